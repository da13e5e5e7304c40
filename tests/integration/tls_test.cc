// TLS on both sides through the real binary. Certificates are made per run by python3-cryptography
// (tests/integration/tls_fixtures.py); clients are curl, openssl s_client and h2load; the https
// backend is Python's ssl module (tests/integration/tls_backend.py). Nothing here shares code with
// Sluice's TLS.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

struct Fixtures {
  std::string dir;
  nlohmann::json serials;
  std::string File(const std::string& name) const { return dir + "/" + name; }
  std::string Serial(const std::string& name) const { return serials.at(name).get<std::string>(); }
};

const Fixtures& Certs() {
  static const Fixtures fixtures = [] {
    Fixtures f;
    const char* tmp = std::getenv("TEST_TMPDIR");
    f.dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/tls";
    // Debian's python3 (with python3-cryptography), not whatever python3 comes first on PATH.
    CommandResult r =
        RunCommand({"/usr/bin/python3", Runfile("tests/integration/tls_fixtures.py"), f.dir},
                   std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err << "\n(run tools/setup: python3-cryptography)";
    f.serials = nlohmann::json::parse(r.out, nullptr, false);
    return f;
  }();
  return fixtures;
}

void RequireTool(const std::string& tool) {
  ASSERT_FALSE(Which(tool).empty()) << tool << " not found on PATH: run tools/setup";
}

// A service on an ephemeral port with `tls` (a JSON object) and endpoints /a (one JSON backend)
// and /big (a larger body, for load).
std::string Service(const std::string& tls, const std::string& backend) {
  return R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"}},
    "tls": )" +
         tls + R"(,
    "endpoints": [
      {"endpoint": "/a", "backend": [{"host": [")" +
         backend + R"("], "url_pattern": "/a"}]}
    ]})";
}

std::string KeyPair(const Fixtures& f, const std::string& name) {
  return R"({"public_key": ")" + f.File(name + ".pem") + R"(", "private_key": ")" +
         f.File(name + ".key") + R"("})";
}

TestBackend JsonBackend() {
  return TestBackend([](const Request& req) {
    return TestBackend::Json(R"({"path": ")" + std::string(req.target()) + R"("})");
  });
}

// curl with the test CA, silent, printing the body then "|<http version>|<status>".
CommandResult Curl(uint16_t port, const std::vector<std::string>& extra,
                   const std::string& host = "localhost") {
  const Fixtures& f = Certs();
  std::vector<std::string> argv = {"curl",       "-sS",
                                   "--max-time", "10",
                                   "--cacert",   f.File("ca.pem"),
                                   "-w",         "|%{http_version}|%{http_code}"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("https://" + host + ":" + std::to_string(port) + "/a");
  return RunCommand(argv);
}

// The serial of the certificate `openssl s_client` is shown, upper-case hex without leading
// zeros, and the ALPN protocol it negotiated.
struct Handshake {
  std::string serial;
  std::string alpn;
  std::string protocol;
};
Handshake SClient(uint16_t port, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"sh", "-c",
                                   "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                       " " +
                                       [&] {
                                         std::string a;
                                         for (const auto& e : extra) a += e + " ";
                                         return a;
                                       }() +
                                       "</dev/null 2>/dev/null | tee /dev/stderr | "
                                       "openssl x509 -noout -serial 2>/dev/null"};
  CommandResult r = RunCommand(argv, std::chrono::seconds(15));
  Handshake h;
  const size_t eq = r.out.find('=');
  if (eq != std::string::npos) {
    h.serial = std::string(absl::StripAsciiWhitespace(r.out.substr(eq + 1)));
    h.serial.erase(0, h.serial.find_first_not_of('0'));
  }
  for (const std::string key : {"ALPN protocol: ", "Protocol  : ", "New, "}) {
    const size_t at = r.err.find(key);
    if (at == std::string::npos) continue;
    const std::string value = r.err.substr(
        at + key.size(), r.err.find_first_of(",\n", at + key.size()) - at - key.size());
    if (key == "ALPN protocol: ") h.alpn = value;
    if (key == "New, ") h.protocol = value;
  }
  return h;
}

std::string NoLeadingZeros(std::string s) {
  s.erase(0, s.find_first_not_of('0'));
  return s;
}

TEST(TlsListenerTest, ServesHttp1AndHttp2ByAlpnAndRefusesPlainHttp) {
  RequireTool("curl");
  RequireTool("openssl");
  const Fixtures& f = Certs();
  TestBackend backend = JsonBackend();
  SluiceProcess gw(Service(KeyPair(f, "server"), backend.url()));

  CommandResult h1 = Curl(gw.port(), {"--http1.1"});
  EXPECT_EQ(h1.exit_code, 0) << h1.err;
  EXPECT_EQ(h1.out, R"({"path":"/a"}|1.1|200)");
  CommandResult h2 = Curl(gw.port(), {"--http2"});
  EXPECT_EQ(h2.exit_code, 0) << h2.err;
  EXPECT_EQ(h2.out, R"({"path":"/a"}|2|200)");
  // By IP: the certificate names 127.0.0.1 too.
  CommandResult by_ip = Curl(gw.port(), {}, "127.0.0.1");
  EXPECT_EQ(by_ip.out, R"({"path":"/a"}|2|200)") << by_ip.err;

  Handshake hs = SClient(gw.port(), {"-alpn", "h2,http/1.1", "-servername", "localhost"});
  EXPECT_EQ(hs.alpn, "h2");
  EXPECT_EQ(hs.serial, NoLeadingZeros(f.Serial("server")));
  EXPECT_EQ(hs.protocol, "TLSv1.3");

  // Plain HTTP on the TLS port: Go's answer (KrakenD's), never a plaintext response of the API.
  const std::string plain = RawExchange(gw.port(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(plain, "HTTP/1.0 400 Bad Request")) << plain;
  EXPECT_NE(plain.find("Client sent an HTTP request to an HTTPS server."), std::string::npos);
  EXPECT_EQ(plain.find("path"), std::string::npos);
  EXPECT_EQ(backend.request_count(), 3u);
}

// OpenSSL writes the listener's sockets itself (http/tls_stream.h): a client gone in the middle
// of a large answer fails that connection's write, and never ends the process (SIGPIPE).
TEST(TlsListenerTest, AClientGoneMidAnswerLeavesTheGatewayServing) {
  RequireTool("h2load");
  const Fixtures& f = Certs();
  const std::string big(256 << 10, 'x');
  TestBackend backend(
      [&big](const Request&) { return TestBackend::Json(R"({"big": ")" + big + R"("})"); });
  SluiceProcess gw(Service(KeyPair(f, "server"), backend.url()));
  const std::string url = "https://127.0.0.1:" + std::to_string(gw.port()) + "/a";
  // h2load stops after 1 s with answers in flight: Sluice's writes go on after it left.
  RunCommand({"h2load", "-D", "1", "-c", "4", "-m", "8", url}, std::chrono::seconds(30));
  RunCommand({"h2load", "-D", "1", "-c", "4", "--h1", url}, std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writes after they left
  EXPECT_EQ(Curl(gw.port(), {"-o", "/dev/null"}).out, "|2|200") << gw.log();
}

// `openssl s_client` (OpenSSL 3: a stream that ends without close_notify is an error, "unexpected
// eof while reading") fed `input` through `sh -c`; its standard output and error.
CommandResult SClientSession(uint16_t port, const std::string& alpn, const std::string& input) {
  // `timeout`: s_client ends on its own within 15 s even if Sluice never closes (-quiet keeps it
  // reading after its input ended), and no process outlives the command.
  return RunCommand({"sh", "-c",
                     "(" + input + ") | timeout 15 openssl s_client -connect 127.0.0.1:" +
                         std::to_string(port) + " -alpn " + alpn + " -quiet -ign_eof"},
                    std::chrono::seconds(20));
}

// Graceful closes end with close_notify: after a `Connection: close` answer, and when an idle
// HTTP/1.1 or h2 connection is let go. A client reading to the end of the stream otherwise sees a
// truncation.
TEST(TlsListenerTest, GracefulClosesSendCloseNotify) {
  RequireTool("openssl");
  const Fixtures& f = Certs();
  TestBackend backend = JsonBackend();
  std::string config = Service(KeyPair(f, "server"), backend.url());
  config.replace(config.find("\"version\": 3,"), 13, R"("version": 3, "idle_timeout": "1s",)");
  SluiceProcess gw(config);

  CommandResult close = SClientSession(
      gw.port(), "http/1.1",
      R"(printf 'GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; sleep 3)");
  // s_client ended because Sluice closed (timeout's 124: it did not), and saw close_notify.
  auto closed_cleanly = [](const CommandResult& r) {
    EXPECT_NE(r.exit_code, 124) << "Sluice did not close the connection";
    EXPECT_EQ(r.err.find("unexpected eof"), std::string::npos) << r.err;
  };
  EXPECT_NE(close.out.find(R"({"path":"/a"})"), std::string::npos) << close.out << close.err;
  closed_cleanly(close);

  // Kept alive, then idle past idle_timeout: Sluice closes it.
  CommandResult idle = SClientSession(
      gw.port(), "http/1.1", R"(printf 'GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 3)");
  EXPECT_NE(idle.out.find(R"({"path":"/a"})"), std::string::npos) << idle.out << idle.err;
  closed_cleanly(idle);

  // h2: the client preface and an empty SETTINGS frame, then nothing: GOAWAY after idle_timeout.
  CommandResult h2 = SClientSession(
      gw.port(), "h2",
      R"(printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\000\000\000\004\000\000\000\000\000'; sleep 3)");
  EXPECT_FALSE(h2.out.empty()) << h2.err;  // Sluice's SETTINGS, then its GOAWAY
  closed_cleanly(h2);
}

TEST(TlsListenerTest, Tls12IsRefusedUnlessMinVersionAllowsIt) {
  RequireTool("curl");
  const Fixtures& f = Certs();
  TestBackend backend = JsonBackend();
  {
    SluiceProcess gw(Service(KeyPair(f, "server"), backend.url()));
    CommandResult r = Curl(gw.port(), {"--tls-max", "1.2"});
    EXPECT_NE(r.exit_code, 0) << "TLS 1.2 must be refused by default (KrakenD: 1.3 only)";
    EXPECT_EQ(Curl(gw.port(), {"--tlsv1.3"}).exit_code, 0);
  }
  std::string tls = KeyPair(f, "server");
  tls.insert(tls.size() - 1, R"(, "min_version": "TLS12")");
  SluiceProcess gw(Service(tls, backend.url()));
  CommandResult r = Curl(gw.port(), {"--tls-max", "1.2", "--http1.1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, R"({"path":"/a"}|1.1|200)");
}

TEST(TlsListenerTest, SniChoosesAmongSeveralCertificates) {
  RequireTool("openssl");
  const Fixtures& f = Certs();
  TestBackend backend = JsonBackend();
  SluiceProcess gw(Service(
      R"({"keys": [)" + KeyPair(f, "server") + "," + KeyPair(f, "other") + "]}", backend.url()));
  EXPECT_EQ(SClient(gw.port(), {"-servername", "other.test"}).serial,
            NoLeadingZeros(f.Serial("other")));
  EXPECT_EQ(SClient(gw.port(), {"-servername", "localhost"}).serial,
            NoLeadingZeros(f.Serial("server")));
  EXPECT_EQ(SClient(gw.port(), {"-noservername"}).serial, NoLeadingZeros(f.Serial("server")));
}

TEST(TlsListenerTest, MutualTlsServesOnlyClientsWithATrustedCertificate) {
  RequireTool("curl");
  const Fixtures& f = Certs();
  TestBackend backend = JsonBackend();
  std::string tls = KeyPair(f, "server");
  tls.insert(tls.size() - 1, R"(, "enable_mtls": true, "disable_system_ca_pool": true,
      "ca_certs": [")" + f.File("ca.pem") +
                                 R"("])");
  SluiceProcess gw(Service(tls, backend.url()));
  EXPECT_NE(Curl(gw.port(), {}).exit_code, 0) << "no client certificate";
  CommandResult stranger =
      Curl(gw.port(), {"--cert", f.File("stranger.pem"), "--key", f.File("stranger.key")});
  EXPECT_NE(stranger.exit_code, 0) << "a certificate from an unknown CA: " << stranger.out;
  CommandResult good =
      Curl(gw.port(), {"--cert", f.File("client.pem"), "--key", f.File("client.key")});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, R"({"path":"/a"}|2|200)");
  EXPECT_EQ(backend.request_count(), 1u);
}

TEST(TlsListenerTest, CheckNamesTheKeyAndFileAtFault) {
  const Fixtures& f = Certs();
  struct Case {
    std::string tls;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"({"public_key": "/nonexistent/cert.pem", "private_key": ")" + f.File("server.key") +
           R"("})",
       "tls.public_key: cannot read \"/nonexistent/cert.pem\": No such file or directory"},
      {R"({"keys": [{"public_key": ")" + f.File("server.pem") + R"(", "private_key": ")" +
           f.File("other.key") + R"("}]})",
       "tls.keys[0].private_key: \"" + f.File("other.key") +
           "\" is not the key of the certificate"},
      {KeyPair(f, "expired"), "tls.public_key: \"" + f.File("expired.pem") + "\" expired on"},
      {R"({"public_key": ")" + f.File("server.key") + R"(", "private_key": ")" +
           f.File("server.key") + R"("})",
       "holds no PEM certificate"},
      {R"({"min_version": "TLS13"})", "tls: no certificate"},
      {R"({"enable_mtls": true, "ca_certs": ["/nonexistent/ca.pem"], "public_key": ")" +
           f.File("server.pem") + R"(", "private_key": ")" + f.File("server.key") + R"("})",
       "tls.ca_certs[0]: cannot read \"/nonexistent/ca.pem\""},
      {R"({"cipher_suites": [1], "public_key": ")" + f.File("server.pem") +
           R"(", "private_key": ")" + f.File("server.key") + R"("})",
       "tls.cipher_suites: 1 (0x0001) is not one of Go's"},
  };
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/tls-check.json";
  for (const Case& c : cases) {
    std::ofstream(path) << Service(c.tls, "http://127.0.0.1:1");
    CommandResult check = RunSluice({"check", "-c", path});
    EXPECT_NE(check.exit_code, 0) << c.tls;
    EXPECT_NE(check.err.find(c.expected), std::string::npos) << check.err;
    EXPECT_EQ(check.out.find("Syntax OK"), std::string::npos);
    if (check.exit_code == 0) continue;  // run would serve: covered by the failure above
    CommandResult run = RunSluice({"run", "-c", path, "-p", "0"});
    EXPECT_NE(run.exit_code, 0) << "run must refuse what check refuses: " << c.tls;
  }
  // "disabled": true serves plain HTTP, as in KrakenD.
  std::ofstream(path) << Service(R"({"disabled": true})", "http://127.0.0.1:1");
  EXPECT_EQ(RunSluice({"check", "-c", path}).exit_code, 0);
}

void CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  const std::string tmp = to + ".tmp";
  std::ofstream(tmp, std::ios::binary) << in.rdbuf();
  ASSERT_EQ(std::rename(tmp.c_str(), to.c_str()), 0);  // atomic, as a secret update is
}

// Waits up to `limit` for s_client to be shown `serial`.
bool ServedSerial(uint16_t port, const std::string& serial, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  do {
    if (SClient(port, {}).serial == serial) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

TEST(TlsListenerTest, CertificatesReloadOnFileChangeAndSighupWithoutFailedRequests) {
  RequireTool("openssl");
  RequireTool("h2load");
  const Fixtures& f = Certs();
  const std::string live = f.dir + "/live";
  mkdir(live.c_str(), 0700);
  CopyFile(f.File("server.pem"), live + "/tls.crt");
  CopyFile(f.File("server.key"), live + "/tls.key");
  TestBackend backend = JsonBackend();
  SluiceProcess gw(Service(
      R"({"public_key": ")" + live + R"(/tls.crt", "private_key": ")" + live + R"(/tls.key"})",
      backend.url()));
  ASSERT_TRUE(ServedSerial(gw.port(), NoLeadingZeros(f.Serial("server")), std::chrono::seconds(5)));

  // Load over TLS (h2 and new handshakes) while the certificate is swapped.
  // h2load for 8 s (the swap below takes ~3-5 s), 8 connections of 4 streams.
  std::thread load([&] {
    CommandResult r = RunCommand({"h2load", "-D", "8", "-c", "8", "-m", "4",
                                  "https://127.0.0.1:" + std::to_string(gw.port()) + "/a"},
                                 std::chrono::seconds(60));
    EXPECT_NE(r.out.find(" succeeded, 0 failed, 0 errored, 0 timeout"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(" 0 succeeded"), std::string::npos) << r.out;
  });
  // The key first, then the certificate: in between the pair does not match, and the old one
  // stays live (a half-written secret never takes the port down).
  CopyFile(f.File("server2.key"), live + "/tls.key");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(SClient(gw.port(), {}).serial, NoLeadingZeros(f.Serial("server")));
  CopyFile(f.File("server2.pem"), live + "/tls.crt");
  EXPECT_TRUE(ServedSerial(gw.port(), NoLeadingZeros(f.Serial("server2")), std::chrono::seconds(8)))
      << gw.log();
  load.join();
  EXPECT_TRUE(gw.LogHas("kept the current certificates")) << gw.log();

  // SIGHUP reads the files at once; a broken file keeps what is live.
  CopyFile(f.File("server.pem"), live + "/tls.crt");
  CopyFile(f.File("server.key"), live + "/tls.key");
  ASSERT_EQ(kill(gw.pid(), SIGHUP), 0);
  EXPECT_TRUE(ServedSerial(gw.port(), NoLeadingZeros(f.Serial("server")), std::chrono::seconds(3)));
  std::ofstream(live + "/tls.crt") << "not a certificate";
  ASSERT_EQ(kill(gw.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(SClient(gw.port(), {}).serial, NoLeadingZeros(f.Serial("server")));
  EXPECT_EQ(Curl(gw.port(), {}).out, R"({"path":"/a"}|2|200)");
}

// ---------------------------------------------------------------------------------------------
// https:// backends

std::string BackendService(const std::string& client_tls, const std::string& host,
                           const std::string& url_pattern = "/x") {
  return R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"}},
    )" + (client_tls.empty() ? "" : R"("client_tls": )" + client_tls + ",") +
         R"(
    "endpoints": [
      {"endpoint": "/a", "backend": [{"host": [")" +
         host + R"("], "url_pattern": ")" + url_pattern + R"("}]}
    ]})";
}

TEST(TlsBackendTest, HttpsBackendsAreVerifiedAndServed) {
  const Fixtures& f = Certs();
  ServerProcess good("tests/integration/tls_backend.py",
                     {f.File("server.pem"), f.File("server.key"), "--client-ca", f.File("ca.pem")},
                     "listening on ([0-9]+)");
  const std::string trust = R"({"ca_certs": [")" + f.File("ca.pem") + R"("],
      "client_certs": [{"certificate": ")" +
                            f.File("client.pem") + R"(", "private_key": ")" + f.File("client.key") +
                            R"("}]})";
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    SluiceProcess gw(BackendService(trust, "https://" + host + ":" + std::to_string(good.port())));
    for (int i = 0; i < 3; ++i) {  // pooled connections and resumed sessions serve too
      Response r = Fetch(gw.port(), "GET", "/a");
      EXPECT_EQ(r.result_int(), 200u) << gw.log();
      EXPECT_EQ(r.body(), R"({"client":"client.test","path":"/x","tls":"TLSv1.3"})");
    }
  }
  // A backend that closes every connection: each call makes a new one, and after the first it
  // resumes the TLS session instead of a full handshake.
  // One worker: sessions are kept per worker, as its connection pools are.
  std::string one_worker =
      BackendService(trust, "https://localhost:" + std::to_string(good.port()), "/close");
  one_worker.replace(one_worker.find(R"("telemetry/logging")"), 0,
                     R"("sluice/http": {"workers": 1}, )");
  SluiceProcess gw(one_worker);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").body(), R"({"resumed":false})");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Fetch(gw.port(), "GET", "/a").body(), R"({"resumed":true})") << i;
  }
}

TEST(TlsBackendTest, AnUntrustedBackendIsA5xxWithTheReasonInTheLog) {
  const Fixtures& f = Certs();
  struct Case {
    std::string cert;
    std::string client_tls;
    std::string reason;
  };
  const std::string trust = R"({"ca_certs": [")" + f.File("ca.pem") + R"("]})";
  const std::vector<Case> cases = {
      {"wrongname", trust, "hostname mismatch"},
      {"server", "", "unable to get local issuer certificate"},
      {"expired", trust, "certificate has expired"},
  };
  for (const Case& c : cases) {
    ServerProcess backend("tests/integration/tls_backend.py",
                          {f.File(c.cert + ".pem"), f.File(c.cert + ".key")},
                          "listening on ([0-9]+)");
    SluiceProcess gw(
        BackendService(c.client_tls, "https://localhost:" + std::to_string(backend.port())));
    Response r = Fetch(gw.port(), "GET", "/a");
    EXPECT_GE(r.result_int(), 500u) << c.cert;
    EXPECT_TRUE(gw.LogHas(c.reason)) << c.cert << ":\n" << gw.log();
  }
  // allow_insecure_connections: served, and said loudly at start.
  ServerProcess backend("tests/integration/tls_backend.py",
                        {f.File("wrongname.pem"), f.File("wrongname.key")},
                        "listening on ([0-9]+)");
  SluiceProcess gw(BackendService(R"({"allow_insecure_connections": true})",
                                  "https://localhost:" + std::to_string(backend.port())));
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u) << gw.log();
  EXPECT_TRUE(gw.LogHas("are NOT verified"));
}

// gRPC backends over TLS: demo_grpc with a certificate of the test CA.
std::string GrpcService(const std::string& client_tls, uint16_t port, bool reflection,
                        const std::string& host = "localhost") {
  return R"({"version": 3, "timeout": "3s",
    "extra_config": {"telemetry/logging": {"level": "WARNING"})" +
         (reflection
              ? std::string()
              : R"(, "grpc": {"catalog": [")" + Runfile("proto/shop/shop.protoset") + R"("]})") +
         R"(},
    "endpoints": [{"endpoint": "/p/{id}", "backend": [{"host": [")" +
         host + ":" + std::to_string(port) + R"("], "url_pattern": "/shop.Shop/GetProduct",
      "extra_config": {"backend/grpc": {)" +
         (reflection ? R"("descriptor_source": "reflection", )" : "") + R"("client_tls": )" +
         client_tls + "}}}]}]}";
}

TEST(TlsBackendTest, GrpcBackendsOverTlsAreVerifiedAndServed) {
  const Fixtures& f = Certs();
  ServerProcess grpc("tools/demo_grpc/demo_grpc",
                     {"--port", "0", "--tls", f.File("server.pem"), f.File("server.key")},
                     R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)");
  const std::string trust = R"({"ca_certs": [")" + f.File("ca.pem") + R"("]})";
  // With reflection: the descriptors come over the same TLS.
  for (bool reflection : {true, false}) {
    SluiceProcess gw(GrpcService(trust, grpc.port(), reflection));
    Response r = Fetch(gw.port(), "GET", "/p/1");
    EXPECT_EQ(r.result_int(), 200u) << gw.log();
    EXPECT_NE(r.body().find("\"id\":1"), std::string::npos) << r.body();
  }
  {
    // By IP literal: no SNI, and the certificate's IP address is what is checked.
    SluiceProcess by_ip(GrpcService(trust, grpc.port(), false, "127.0.0.1"));
    EXPECT_EQ(Fetch(by_ip.port(), "GET", "/p/1").result_int(), 200u) << by_ip.log();
  }
  // Not trusted (the system pool lacks the test CA): a 5xx, never a plaintext call.
  SluiceProcess gw(GrpcService("{}", grpc.port(), false));
  Response r = Fetch(gw.port(), "GET", "/p/1");
  EXPECT_GE(r.result_int(), 500u) << r.body();
  {
    // Trusted CA, but the certificate names another host (wrong.test): refused.
    ServerProcess wrong("tools/demo_grpc/demo_grpc",
                        {"--port", "0", "--tls", f.File("wrongname.pem"), f.File("wrongname.key")},
                        R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)");
    SluiceProcess named(GrpcService(trust, wrong.port(), false));
    EXPECT_EQ(Fetch(named.port(), "GET", "/p/1").result_int(), 503u);
    // The client gets "backend unavailable"; the log says why.
    EXPECT_TRUE(named.LogHas("hostname mismatch")) << named.log();
    SluiceProcess by_ip(GrpcService(trust, wrong.port(), false, "127.0.0.1"));
    EXPECT_EQ(Fetch(by_ip.port(), "GET", "/p/1").result_int(), 503u) << "no IP SAN: refused";
    EXPECT_TRUE(by_ip.LogHas("IP address mismatch")) << by_ip.log();
  }
  {
    // A backend that requires a client certificate: served with client_certs, refused without.
    ServerProcess mutual("tools/demo_grpc/demo_grpc",
                         {"--port", "0", "--tls", f.File("server.pem"), f.File("server.key"),
                          "--client-ca", f.File("ca.pem")},
                         R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)");
    const std::string with_cert =
        R"({"ca_certs": [")" + f.File("ca.pem") + R"("], "client_certs": [{"certificate": ")" +
        f.File("client.pem") + R"(", "private_key": ")" + f.File("client.key") + R"("}]})";
    SluiceProcess served(GrpcService(with_cert, mutual.port(), false));
    Response ok = Fetch(served.port(), "GET", "/p/1");
    EXPECT_EQ(ok.result_int(), 200u) << served.log();
    EXPECT_NE(ok.body().find("\"id\":1"), std::string::npos) << ok.body();
    SluiceProcess refused(GrpcService(trust, mutual.port(), false));
    EXPECT_EQ(Fetch(refused.port(), "GET", "/p/1").result_int(), 503u);
  }
  // allow_insecure_connections: a certificate for another name is served, and said loudly at
  // start; with reflection (gRPC C++'s credentials always verify) check refuses it.
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/grpc-insecure.json";
  {
    ServerProcess wrong("tools/demo_grpc/demo_grpc",
                        {"--port", "0", "--tls", f.File("wrongname.pem"), f.File("wrongname.key")},
                        R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)");
    SluiceProcess insecure(
        GrpcService(R"({"allow_insecure_connections": true})", wrong.port(), false));
    EXPECT_EQ(Fetch(insecure.port(), "GET", "/p/1").result_int(), 200u) << insecure.log();
    EXPECT_TRUE(insecure.LogHas("certificate is NOT verified"));
  }
  std::ofstream(path) << GrpcService(R"({"allow_insecure_connections": true})", grpc.port(), true);
  CommandResult check = RunSluice({"check", "-c", path});
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.err.find("client_tls.allow_insecure_connections: not supported with "
                           "\"descriptor_source\": \"reflection\""),
            std::string::npos)
      << check.err;
  // An encrypted client key: refused by check, naming the key (never a passphrase prompt).
  const std::string encrypted = std::string(tmp != nullptr ? tmp : "/tmp") + "/client-enc.key";
  ASSERT_EQ(RunCommand({"openssl", "pkey", "-in", f.File("client.key"), "-aes256", "-passout",
                        "pass:secret", "-out", encrypted})
                .exit_code,
            0);
  std::ofstream(path) << GrpcService(
      R"({"ca_certs": [")" + f.File("ca.pem") + R"("], "client_certs": [{"certificate": ")" +
          f.File("client.pem") + R"(", "private_key": ")" + encrypted + R"("}]})",
      grpc.port(), false);
  check = RunSluice({"check", "-c", path});
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.err.find("backend/grpc.client_tls.client_certs[0].private_key: not a private "
                           "key OpenSSL can read (encrypted keys are not supported)"),
            std::string::npos)
      << check.err;
}

// A TLS backend that does not agree to HTTP/2 in ALPN (here an HTTPS server for HTTP/1.1) is no
// gRPC backend: the call fails (503, never a call in HTTP/1.1) and the log says why.
TEST(TlsBackendTest, AGrpcBackendThatRefusesAlpnH2IsA503WithTheReasonInTheLog) {
  const Fixtures& f = Certs();
  ServerProcess https("tests/integration/tls_backend.py",
                      {f.File("server.pem"), f.File("server.key")}, "listening on ([0-9]+)");
  const std::string trust = R"({"ca_certs": [")" + f.File("ca.pem") + R"("]})";
  SluiceProcess gw(GrpcService(trust, https.port(), false));
  EXPECT_EQ(Fetch(gw.port(), "GET", "/p/1").result_int(), 503u) << gw.log();
  EXPECT_TRUE(gw.LogHas("tls: the backend did not agree to HTTP/2 (ALPN h2)")) << gw.log();
}

}  // namespace
}  // namespace sluice::testing
