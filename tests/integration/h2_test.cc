// End-to-end tests of cleartext HTTP/2 (use_h2c): the real sluice binary, real backends on
// 127.0.0.1 ephemeral ports, and real HTTP/2 clients: nghttp (prior knowledge and Upgrade),
// h2load, HAProxy with `proto h2`, and a raw frame writer for what no well-behaved client sends
// (rapid reset, malformed frames). Every load is bounded in requests and time.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + std::to_string(getpid()) + "-" + name;
}

std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

// The tools come from tools/setup (nghttp2-client, haproxy); a missing one fails the test.
void RequireTool(const std::string& tool) {
  ASSERT_FALSE(Which(tool).empty()) << tool << " not found on PATH: run tools/setup";
}

// A config with the endpoints every test here uses, h2c on (unless `h2c` is false):
//   GET  /a      one JSON backend
//   GET  /agg    two backends merged
//   POST /items  body forwarded, backend's answer decoded
//   GET  /raw    no-op passthrough
struct Backends {
  TestBackend a{[](const Request& req) {
    return TestBackend::Json(R"({"a":1,"target":")" + std::string(req.target()) + R"("})");
  }};
  TestBackend b{[](const Request&) { return TestBackend::Json(R"({"b":2})"); }};
  TestBackend store{
      [](const Request& req) { return TestBackend::Json(R"({"got":)" + req.body() + "}", 201); }};
};

std::string Config(Backends& be, bool h2c = true, const std::string& top_extra = "") {
  return R"({"version": 3, "name": "h2", "use_h2c": )" + std::string(h2c ? "true" : "false") +
         ", " + top_extra + R"(
    "extra_config": {"sluice/http": {"workers": 2, "max_body_bytes": 1000},
                     "telemetry/logging": {"level": "INFO"}},
    "endpoints": [
      {"endpoint": "/a", "backend": [{"host": [")" +
         be.a.url() + R"("], "url_pattern": "/a"}]},
      {"endpoint": "/agg", "backend": [
        {"host": [")" +
         be.a.url() + R"("], "url_pattern": "/x", "allow": ["a"]},
        {"host": [")" +
         be.b.url() + R"("], "url_pattern": "/y"}]},
      {"endpoint": "/items", "method": "POST", "input_headers": ["Content-Type"],
       "backend": [{"host": [")" +
         be.store.url() + R"("], "url_pattern": "/store"}]},
      {"endpoint": "/raw", "output_encoding": "no-op",
       "backend": [{"host": [")" +
         be.a.url() + R"("], "url_pattern": "/raw", "encoding": "no-op"}]}
    ]})";
}

// One nghttp request; the answer as a Beast response (status, headers from the HAR log, body).
struct H2Answer {
  int exit_code = -1;
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string log;  // nghttp's stderr
};

H2Answer Nghttp(uint16_t port, const std::string& path,
                const std::vector<std::string>& extra = {}) {
  static std::atomic<int> counter{0};
  const std::string har = TempPath("nghttp-" + std::to_string(counter++) + ".har");
  std::vector<std::string> argv = {"nghttp", "--har=" + har, "-t", "10"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("http://127.0.0.1:" + std::to_string(port) + path);
  CommandResult r = RunCommand(argv, seconds(20));
  H2Answer a;
  a.exit_code = r.exit_code;
  a.body = r.out;
  a.log = r.err;
  std::ifstream in(har);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  unlink(har.c_str());
  if (j.is_discarded()) return a;
  const auto& entries = j["log"]["entries"];
  if (!entries.is_array() || entries.empty()) return a;
  const auto& res = entries[0]["response"];
  a.status = res.value("status", 0u);
  for (const auto& h : res["headers"]) a.headers[h.value("name", "")] = h.value("value", "");
  return a;
}

std::string Get(const H2Answer& a, const std::string& name) {
  auto it = a.headers.find(name);
  return it == a.headers.end() ? "<absent>" : it->second;
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/2 client: frames written by hand, for what well-behaved clients never send.

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kGoaway = 0x7;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f.push_back(static_cast<char>((n >> 16) & 0xff));
  f.push_back(static_cast<char>((n >> 8) & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream >> 24) & 0x7f));
  f.push_back(static_cast<char>((stream >> 16) & 0xff));
  f.push_back(static_cast<char>((stream >> 8) & 0xff));
  f.push_back(static_cast<char>(stream & 0xff));
  f.append(payload);
  return f;
}

// HPACK (RFC 7541): GET, http, then :path and :authority as literals without indexing, with
// their names from the static table (index 4 and 1).
std::string GetHeaderBlock(const std::string& path) {
  std::string block = "\x82\x86";
  block.push_back('\x04');
  block.push_back(static_cast<char>(path.size()));
  block += path;
  block.push_back('\x01');
  block.push_back(static_cast<char>(7));
  block += "h2.test";
  return block;
}

struct RawFrame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

class RawH2 {
 public:
  // `receive_buffer` > 0: SO_RCVBUF set before connecting (a small one makes the server's writes
  // stop short while the client does not read).
  explicit RawH2(uint16_t port, int receive_buffer = 0) : socket_(ioc_) {
    socket_.open(tcp::v4());
    if (receive_buffer > 0) {
      setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                 sizeof(receive_buffer));
    }
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // A write blocked on a server that stopped reading fails after 5 s instead of hanging.
    timeval limit{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    Send(std::string(kPreface) + Frame(kSettings, 0, 0, ""));
  }
  bool Send(const std::string& bytes) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(bytes), ec);
    return !ec;
  }
  // Reads frames until `done` says so, the peer closes, or `limit` passes.
  template <typename Done>
  void ReadUntil(Done done, milliseconds limit) {
    const auto deadline = steady_clock::now() + limit;
    while (!closed_ && !done() && steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
      ReadSome();
    }
  }
  // Reads whatever is there without waiting (keeps the server's writes flowing).
  void Drain() {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    while (!closed_ && poll(&p, 1, 0) > 0) ReadSome();
  }
  bool closed() const { return closed_; }
  const std::vector<RawFrame>& frames() const { return frames_; }
  bool Has(uint8_t type) const {
    for (const auto& f : frames_) {
      if (f.type == type) return true;
    }
    return false;
  }
  std::string DataOf(uint32_t stream) const {
    std::string out;
    for (const auto& f : frames_) {
      if (f.type == kData && f.stream == stream) out += f.payload;
    }
    return out;
  }

 private:
  void ReadSome() {
    char buf[16384];
    boost::system::error_code ec;
    size_t n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) {
      closed_ = true;
      return;
    }
    in_.append(buf, n);
    while (in_.size() >= 9) {
      const size_t len = (static_cast<uint8_t>(in_[0]) << 16) |
                         (static_cast<uint8_t>(in_[1]) << 8) | static_cast<uint8_t>(in_[2]);
      if (in_.size() < 9 + len) break;
      RawFrame f;
      f.type = static_cast<uint8_t>(in_[3]);
      f.flags = static_cast<uint8_t>(in_[4]);
      f.stream = ((static_cast<uint8_t>(in_[5]) & 0x7f) << 24) |
                 (static_cast<uint8_t>(in_[6]) << 16) | (static_cast<uint8_t>(in_[7]) << 8) |
                 static_cast<uint8_t>(in_[8]);
      f.payload = in_.substr(9, len);
      frames_.push_back(std::move(f));
      in_.erase(0, 9 + len);
    }
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string in_;
  std::vector<RawFrame> frames_;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------------
// nghttp: prior knowledge and Upgrade

TEST(H2Test, PriorKnowledgeServesEndpointsLikeHttp11) {
  RequireTool("nghttp");
  Backends be;
  SluiceProcess gw(Config(be));

  H2Answer a = Nghttp(gw.port(), "/a?x=1");
  ASSERT_EQ(a.exit_code, 0) << a.log;
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.body, R"({"a":1,"target":"/a"})");
  EXPECT_EQ(Get(a, "content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(Get(a, "x-krakend"), "Sluice Version 0.1.0");
  EXPECT_EQ(Get(a, "x-krakend-completed"), "true");
  EXPECT_EQ(Get(a, "content-length"), std::to_string(a.body.size()));
  // The same endpoint over HTTP/1.1 answers the same bytes.
  Response h1 = Fetch(gw.port(), "GET", "/a?x=1");
  EXPECT_EQ(h1.body(), a.body);
  EXPECT_EQ(Header(h1, "Content-Type"), Get(a, "content-type"));
  // The backend saw an ordinary request: Host from :authority in X-Forwarded-Host.
  Request seen = be.a.last_request();
  EXPECT_EQ(std::string(seen["X-Forwarded-Host"]), "gateway.test");

  H2Answer agg = Nghttp(gw.port(), "/agg");
  EXPECT_EQ(agg.status, 200u);
  EXPECT_EQ(agg.body, R"({"a":1,"b":2})");

  const std::string body_file = TempPath("post.json");
  std::ofstream(body_file) << R"({"n":1,"s":"x"})";
  H2Answer post =
      Nghttp(gw.port(), "/items", {"-d", body_file, "-H", "content-type: application/json"});
  unlink(body_file.c_str());
  EXPECT_EQ(post.status, 200u) << post.log;
  EXPECT_EQ(post.body, R"({"got":{"n":1,"s":"x"}})");
  EXPECT_EQ(be.store.last_request().body(), R"({"n":1,"s":"x"})");
  EXPECT_EQ(std::string(be.store.last_request()["Content-Type"]), "application/json");

  H2Answer head = Nghttp(gw.port(), "/a", {"-H", ":method: HEAD"});
  EXPECT_EQ(head.status, 200u) << head.log;
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(Get(head, "content-length"), std::to_string(a.body.size()));

  H2Answer missing = Nghttp(gw.port(), "/nope");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.body, "404 page not found");

  // Access log lines as on HTTP/1.1.
  EXPECT_TRUE(Eventually([&] {
    return gw.log().find("[ACCESS] 127.0.0.1 POST /items 200") != std::string::npos;
  })) << gw.log();
}

TEST(H2Test, NoOpPassthroughDropsConnectionSpecificHeaders) {
  RequireTool("nghttp");
  TestBackend backend([](const Request&) {
    Response res(static_cast<bhttp::status>(418), 11);
    res.set("X-Custom", "kept");
    res.set(bhttp::field::connection, "keep-alive, X-Custom");
    res.set("Keep-Alive", "timeout=5");
    res.set(bhttp::field::content_type, "text/weird");
    res.body() = "raw body";
    return res;
  });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true, "endpoints": [{"endpoint": "/raw",
      "output_encoding": "no-op", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/raw", "encoding": "no-op"}]}]})");
  H2Answer a = Nghttp(gw.port(), "/raw");
  ASSERT_EQ(a.exit_code, 0) << a.log;  // nghttp refuses connection-specific fields
  EXPECT_EQ(a.status, 418u);
  EXPECT_EQ(a.body, "raw body");
  EXPECT_EQ(Get(a, "x-custom"), "kept");
  EXPECT_EQ(Get(a, "content-type"), "text/weird");
  EXPECT_EQ(Get(a, "connection"), "<absent>");
  EXPECT_EQ(Get(a, "keep-alive"), "<absent>");
}

TEST(H2Test, UpgradeFromHttp11) {
  RequireTool("nghttp");
  Backends be;
  SluiceProcess gw(Config(be));
  H2Answer a = Nghttp(gw.port(), "/a", {"-u", "-v"});
  ASSERT_EQ(a.exit_code, 0) << a.log;
  EXPECT_EQ(a.status, 200u);
  // -v logs the upgrade to stdout along with the body.
  EXPECT_NE(a.body.find("HTTP/1.1 101 Switching Protocols"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("HTTP Upgrade success"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(R"({"a":1,"target":"/a"})"), std::string::npos) << a.body;
  // The upgrade fields are not forwarded.
  Request seen = be.a.last_request();
  EXPECT_EQ(seen.find("HTTP2-Settings"), seen.end());
  EXPECT_EQ(seen.find(bhttp::field::upgrade), seen.end());
}

// The body of an `Upgrade: h2c` request, read over HTTP/1.1, is held by stream 1 until it is
// answered: it stays charged against max_buffered_request_bytes meanwhile.
TEST(H2Test, AnUpgradedRequestsBodyStaysChargedUntilAnswered) {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  TestBackend held([gate](const Request& req) {
    gate.wait_for(seconds(20));
    return TestBackend::Json(R"({"size":)" + std::to_string(req.body().size()) + "}");
  });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true,
      "extra_config": {"telemetry/logging": {"level": "WARNING"}},
      "endpoints": [{"endpoint": "/up", "method": "POST",
        "backend": [{"host": [")" +
                   held.url() + R"("], "url_pattern": "/up"}]}]})");
  auto charged = [&] { return Sample(MetricsPage(gw), "sluice_buffered_request_bytes"); };
  asio::io_context ioc;
  tcp::socket client(ioc);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gw.port()));
  asio::write(client,
              asio::buffer("POST /up HTTP/1.1\r\nHost: x\r\n"
                           "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                           "HTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 5000\r\n\r\n" +
                           std::string(5000, 'b')));
  // As a client does after its upgrade request: the connection preface and its SETTINGS.
  asio::write(client, asio::buffer(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                                   std::string("\0\0\0\x04\0\0\0\0\0", 9)));
  ASSERT_TRUE(Eventually([&] { return held.request_count() == 1; }));
  EXPECT_EQ(held.last_request().body().size(), 5000u);
  EXPECT_EQ(charged(), 5000) << "stream 1 holds the body";
  open.set_value();
  // Answered, the stream ends and returns its charge; the connection stays open.
  EXPECT_TRUE(Eventually([&] { return charged() == 0; })) << charged();
  EXPECT_EQ(Sample(MetricsPage(gw), "sluice_open_connections"), 1);
}

TEST(H2Test, WithoutUseH2cThePrefaceIsABadRequest) {
  RequireTool("nghttp");
  Backends be;
  SluiceProcess gw(Config(be, /*h2c=*/false));
  H2Answer a = Nghttp(gw.port(), "/a");
  EXPECT_EQ(a.status, 0u) << a.log;  // no HTTP/2 answer (the HTTP/1.1 parser says 400)
  // An Upgrade: h2c request is answered over HTTP/1.1, as RFC 9113 allows.
  Response h1 = Fetch(gw.port(), "GET", "/a",
                      {{"Connection", "Upgrade, HTTP2-Settings"},
                       {"Upgrade", "h2c"},
                       {"HTTP2-Settings", "AAMAAABkAAQAAP__"}});
  EXPECT_EQ(h1.result_int(), 200u);
  EXPECT_EQ(h1.body(), R"({"a":1,"target":"/a"})");
}

TEST(H2Test, Http11KeepsWorkingWithH2cOn) {
  Backends be;
  SluiceProcess gw(Config(be));
  HttpClient client(gw.port());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client.Get("/a").result_int(), 200u) << client.error();
  std::string raw =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /agg HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\n\r\n";
  std::string out = RawExchange(gw.port(), raw);
  EXPECT_NE(out.find(R"({"a":1,"b":2})"), std::string::npos) << out;
  // A first packet shorter than the preface that is not HTTP/2.
  EXPECT_EQ(RawExchange(gw.port(), "PRX\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(H2Test, OversizeHeaderGets431AndOversizeBodyGets413) {
  RequireTool("nghttp");
  Backends be;
  SluiceProcess gw(Config(be, true, R"("max_header_bytes": 1024,)"));
  H2Answer big_header = Nghttp(gw.port(), "/a", {"-H", "x-big: " + std::string(4096, 'x')});
  EXPECT_EQ(big_header.status, 431u) << big_header.log;
  EXPECT_EQ(big_header.body, "431 request header fields too large");

  const std::string body_file = TempPath("big.json");
  std::ofstream(body_file) << std::string(5000, 'y');
  H2Answer big_body = Nghttp(gw.port(), "/items", {"-d", body_file});
  unlink(body_file.c_str());
  EXPECT_EQ(big_body.status, 413u) << big_body.log;
  EXPECT_EQ(big_body.body, "413 request entity too large");
  EXPECT_EQ(be.store.request_count(), 0u);
  EXPECT_EQ(be.a.request_count(), 0u);
  // The connection-level limits did not hurt the next request.
  EXPECT_EQ(Nghttp(gw.port(), "/a").status, 200u);
}

// ---------------------------------------------------------------------------------------------
// Load: many streams per connection, then SIGTERM under load

struct H2loadResult {
  int exit_code = -1;
  long total = -1, succeeded = -1, failed = -1, errored = -1, timeout = -1;
  std::string output;
};

H2loadResult H2load(const std::vector<std::string>& args, milliseconds limit = seconds(40)) {
  std::vector<std::string> argv = {"h2load"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, limit);
  H2loadResult h;
  h.exit_code = r.exit_code;
  h.output = r.out + r.err;
  static const std::regex kRequests(
      R"(requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout)");
  std::smatch m;
  if (std::regex_search(h.output, m, kRequests)) {
    h.total = std::stol(m[1]);
    h.succeeded = std::stol(m[2]);
    h.failed = std::stol(m[3]);
    h.errored = std::stol(m[4]);
    h.timeout = std::stol(m[5]);
  }
  return h;
}

TEST(H2Test, H2loadManyConcurrentStreams) {
  RequireTool("h2load");
  Backends be;
  SluiceProcess gw(Config(be));
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + "/agg";
  H2loadResult r = H2load({"-n", "2000", "-c", "4", "-m", "32", url});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.succeeded, 2000) << r.output;
  EXPECT_EQ(r.failed, 0) << r.output;
  EXPECT_EQ(r.errored, 0) << r.output;
  EXPECT_NE(r.output.find("2000 2xx"), std::string::npos) << r.output;
}

TEST(H2Test, SigtermUnderH2LoadLosesNothing) {
  RequireTool("h2load");
  // Every answer takes 400 ms, so the streams are all in flight when the signal arrives.
  TestBackend slow([](const Request& req) {
    std::this_thread::sleep_for(milliseconds(400));
    return TestBackend::Json(R"({"t":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true, "timeout": "10s",
      "extra_config": {"sluice/http": {"workers": 2}},
      "endpoints": [{"endpoint": "/s", "backend": [{"host": [")" +
                   slow.url() + R"("], "url_pattern": "/s"}]}]})");
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + "/s";
  constexpr int kRequests = 80;  // 2 connections x 40 streams, all at once
  auto load = std::async(std::launch::async, [&] {
    return H2load({"-n", std::to_string(kRequests), "-c", "2", "-m", "40", url});
  });
  // Every stream has reached the backend (so both connections are in), none has been answered.
  ASSERT_TRUE(Eventually([&] { return slow.request_count() >= kRequests; }, seconds(20)));
  kill(gw.pid(), SIGTERM);
  H2loadResult r = load.get();
  EXPECT_EQ(r.succeeded, kRequests) << r.output << gw.log();
  EXPECT_EQ(r.failed, 0) << r.output;
  EXPECT_EQ(r.errored, 0) << r.output;
  auto stop_start = steady_clock::now();
  EXPECT_EQ(gw.StopWith(0), 0) << gw.log();
  EXPECT_LT(steady_clock::now() - stop_start, seconds(5));
}

TEST(H2Test, SigtermUnderContinuousH2LoadAnswersEveryStreamItTook) {
  RequireTool("h2load");
  Backends be;
  SluiceProcess gw(Config(be));
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + "/a";
  // More requests than can finish before the signal: h2load keeps 4 x 8 streams open.
  auto load = std::async(std::launch::async, [&] {
    return H2load({"-n", "50000", "-c", "4", "-m", "8", url});
  });
  ASSERT_TRUE(Eventually([&] { return be.a.request_count() >= 300; }, seconds(20)));
  kill(gw.pid(), SIGTERM);
  H2loadResult r = load.get();
  EXPECT_EQ(gw.StopWith(0), 0) << gw.log();
  // Requests h2load had queued when the GOAWAY came were never sent (its nghttp2 refuses new
  // streams after GOAWAY) and count as failed; every stream that reached Sluice was answered.
  EXPECT_GT(r.succeeded, 0) << r.output;
  EXPECT_EQ(static_cast<size_t>(r.succeeded), be.a.request_count()) << r.output;
  EXPECT_NE(r.output.find(std::to_string(r.succeeded) + " 2xx, 0 3xx, 0 4xx, 0 5xx"),
            std::string::npos)
      << r.output;
}

TEST(H2Test, SigtermClosesIdleH2ConnectionsWithGoaway) {
  Backends be;
  SluiceProcess gw(Config(be));
  RawH2 idle(gw.port());
  idle.Send(Frame(kHeaders, kEndStream | kEndHeaders, 1, GetHeaderBlock("/a")));
  idle.ReadUntil([&] { return !idle.DataOf(1).empty(); }, seconds(5));
  ASSERT_EQ(idle.DataOf(1), R"({"a":1,"target":"/a"})");
  auto start = steady_clock::now();
  kill(gw.pid(), SIGTERM);
  // The notice (last stream 2^31-1), then the final GOAWAY naming stream 1, then the close.
  idle.ReadUntil([] { return false; }, seconds(8));
  EXPECT_TRUE(idle.closed());
  std::vector<uint32_t> last_ids;
  for (const auto& f : idle.frames()) {
    if (f.type != kGoaway || f.payload.size() < 8) continue;
    last_ids.push_back(((static_cast<uint8_t>(f.payload[0]) & 0x7f) << 24) |
                       (static_cast<uint8_t>(f.payload[1]) << 16) |
                       (static_cast<uint8_t>(f.payload[2]) << 8) |
                       static_cast<uint8_t>(f.payload[3]));
  }
  EXPECT_EQ(last_ids, (std::vector<uint32_t>{0x7fffffff, 1}));
  EXPECT_EQ(gw.StopWith(0), 0) << gw.log();
  EXPECT_LT(steady_clock::now() - start, seconds(5));
}

// ---------------------------------------------------------------------------------------------
// Hostile clients: rapid reset, malformed frames

TEST(H2Test, RapidResetBurstIsSurvived) {
  // /slow answers after 300 ms and records how many of its calls overlap.
  std::atomic<int> in_flight{0}, max_in_flight{0};
  TestBackend slow([&](const Request&) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(300));
    --in_flight;
    return TestBackend::Json(R"({"slow":true})");
  });
  TestBackend fast([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true, "timeout": "5s",
      "extra_config": {"sluice/http": {"workers": 1}},
      "endpoints": [
        {"endpoint": "/a", "backend": [{"host": [")" +
                   fast.url() + R"("], "url_pattern": "/a"}]},
        {"endpoint": "/slow", "backend": [{"host": [")" +
                   slow.url() + R"("], "url_pattern": "/s"}]}
      ]})");
  ASSERT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  const long rss_before = RssKiB(gw.pid());
  const std::string cancel("\x00\x00\x00\x08", 4);  // RST_STREAM payload: CANCEL

  // 1. HEADERS + RST_STREAM pairs written back to back (CVE-2023-44487), 100 pairs per write,
  //    bounded in count and time. The server reads each pair together: no stream reaches the
  //    handler, and nghttp2's reset rate limit ends the connection with GOAWAY.
  constexpr uint32_t kPairs = 20000;
  {
    RawH2 attacker(gw.port());
    const std::string block = GetHeaderBlock("/a");
    uint32_t sent = 0;
    const auto deadline = steady_clock::now() + seconds(10);
    while (sent < kPairs && steady_clock::now() < deadline && !attacker.closed()) {
      std::string batch;
      for (int i = 0; i < 100; ++i, ++sent) {
        const uint32_t id = 2 * sent + 1;
        batch += Frame(kHeaders, kEndStream | kEndHeaders, id, block);
        batch += Frame(kRstStream, 0, id, cancel);
      }
      if (!attacker.Send(batch)) break;
      attacker.Drain();
    }
    attacker.ReadUntil([] { return false; }, seconds(5));
    EXPECT_TRUE(attacker.closed());
    EXPECT_TRUE(attacker.Has(kGoaway));
    EXPECT_LT(fast.request_count(), 100u) << "pairs sent: " << sent;
  }

  // 2. Resets that arrive after the handler started: 10 rounds of 100 HEADERS for /slow, each
  //    reset once the backend has seen calls (or after 100 ms). Handlers of reset streams still
  //    count against the connection's cap, so the backend never sees more than 100 at once.
  {
    RawH2 attacker(gw.port());
    const std::string block = GetHeaderBlock("/slow");
    uint32_t next_id = 1;
    for (int round = 0; round < 10 && !attacker.closed(); ++round) {
      std::string headers, resets;
      const size_t calls_before = slow.request_count();
      for (int i = 0; i < 100; ++i, next_id += 2) {
        headers += Frame(kHeaders, kEndStream | kEndHeaders, next_id, block);
        resets += Frame(kRstStream, 0, next_id, cancel);
      }
      if (!attacker.Send(headers)) break;
      Eventually([&] { return slow.request_count() > calls_before; }, milliseconds(100));
      if (!attacker.Send(resets)) break;
      attacker.Drain();
    }
    EXPECT_LE(max_in_flight.load(), 100);
    EXPECT_GT(max_in_flight.load(), 0);
  }

  // The process is fine: it answers, over both protocols, within sane memory.
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  RawH2 normal(gw.port());
  normal.Send(Frame(kHeaders, kEndStream | kEndHeaders, 1, GetHeaderBlock("/a")));
  normal.ReadUntil([&] { return !normal.DataOf(1).empty(); }, seconds(5));
  EXPECT_EQ(normal.DataOf(1), R"({"a":1})");
  const long rss_after = RssKiB(gw.pid());
  EXPECT_GT(rss_after, 0);  // still running
  EXPECT_LT(rss_after - rss_before, 64 * 1024 * kRssAllowanceFactor)
      << rss_before << " KiB -> " << rss_after << " KiB";
  std::cerr << "rapid reset: RSS " << rss_before << " -> " << rss_after << " KiB, /a calls "
            << fast.request_count() << ", /slow calls " << slow.request_count()
            << ", most /slow calls at once " << max_in_flight.load() << "\n";
}

TEST(H2Test, MalformedFrameClosesThatConnectionOnly) {
  Backends be;
  SluiceProcess gw(Config(be));
  RawH2 bystander(gw.port());
  bystander.Send(Frame(kHeaders, kEndStream | kEndHeaders, 1, GetHeaderBlock("/a")));
  bystander.ReadUntil([&] { return !bystander.DataOf(1).empty(); }, seconds(5));
  ASSERT_EQ(bystander.DataOf(1), R"({"a":1,"target":"/a"})");

  // A PING must carry 8 bytes: 7 is a FRAME_SIZE_ERROR, a connection error (RFC 9113 6.7).
  RawH2 bad(gw.port());
  bad.Send(Frame(kPing, 0, 0, "1234567"));
  bad.ReadUntil([] { return false; }, seconds(5));
  EXPECT_TRUE(bad.closed());
  ASSERT_TRUE(bad.Has(kGoaway));
  for (const auto& f : bad.frames()) {
    if (f.type == kGoaway) {
      ASSERT_GE(f.payload.size(), 8u);
      EXPECT_EQ(static_cast<uint8_t>(f.payload[7]), 0x6) << "FRAME_SIZE_ERROR";
    }
  }
  // Garbage that is not even a frame header, after the preface.
  RawH2 garbage(gw.port());
  garbage.Send(std::string(64, '\xff'));
  garbage.ReadUntil([] { return false; }, seconds(5));
  EXPECT_TRUE(garbage.closed());

  // The other connection and new ones still work.
  bystander.Send(Frame(kHeaders, kEndStream | kEndHeaders, 3, GetHeaderBlock("/agg")));
  bystander.ReadUntil([&] { return !bystander.DataOf(3).empty(); }, seconds(5));
  EXPECT_EQ(bystander.DataOf(3), R"({"a":1,"b":2})");
  EXPECT_FALSE(bystander.closed());
  EXPECT_EQ(Nghttp(gw.port(), "/a").status, 200u);
}

TEST(H2Test, PingAndSettingsFloodsCloseTheConnectionOnly) {
  Backends be;
  SluiceProcess gw(Config(be));
  // Frames that each demand an answer, sent without ever reading one: once the answers nghttp2
  // must queue pass kMaxOutboundAck, the connection is closed. Bounded in frames and time.
  struct Flood {
    const char* name;
    std::string frame;
  };
  const Flood floods[] = {{"PING", Frame(kPing, 0, 0, "12345678")},
                          {"SETTINGS", Frame(kSettings, 0, 0, "")}};
  for (const Flood& flood : floods) {
    RawH2 attacker(gw.port());
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += flood.frame;
    size_t sent = 0;
    const auto deadline = steady_clock::now() + seconds(15);
    while (sent < 2000000 && steady_clock::now() < deadline && attacker.Send(batch)) sent += 1000;
    attacker.ReadUntil([] { return false; }, seconds(5));
    EXPECT_TRUE(attacker.closed()) << flood.name << " flood: " << sent << " frames sent";
    EXPECT_LT(sent, 2000000u) << flood.name << " flood never ended the connection";
    std::cerr << flood.name << " flood: connection closed after " << sent << " frames written\n";
  }
  EXPECT_EQ(Nghttp(gw.port(), "/a").status, 200u);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
}

// ---------------------------------------------------------------------------------------------
// Time and memory one connection may hold

constexpr uint8_t kContinuation = 0x9;

// A request head of `fields` one-byte HPACK fields: "a" with an empty value is added to the
// dynamic table once, then referenced by its index (62) one byte per field. Split into a
// HEADERS frame and CONTINUATION frames of 16 KiB (the default frame size).
std::string IndexedFieldsHead(uint32_t stream, const std::string& path, size_t fields,
                              bool end_stream) {
  std::string block = GetHeaderBlock(path);
  block += std::string(
      "\x40\x01"
      "a"
      "\x00",
      4);
  block += std::string(fields, '\xbe');
  std::string out;
  constexpr size_t kFrame = 16384;
  for (size_t at = 0; at < block.size(); at += kFrame) {
    const bool first = at == 0;
    const bool last = at + kFrame >= block.size();
    uint8_t flags = last ? kEndHeaders : 0;
    if (first && end_stream) flags |= kEndStream;
    out += Frame(first ? kHeaders : kContinuation, flags, stream, block.substr(at, kFrame));
  }
  return out;
}

// HPACK for POST `path` (:method POST is static index 3).
std::string PostHeaderBlock(const std::string& path) {
  std::string block = GetHeaderBlock(path);
  block[0] = '\x83';
  return block;
}

// RFC 9113 5.1: frames on a closed stream are a STREAM_CLOSED error; 5.1.1: a stream id lower
// than one already used is a connection error PROTOCOL_ERROR.
TEST(H2Test, FramesOnClosedStreamsAndReusedIdsAreErrors) {
  Backends be;
  SluiceProcess gw(Config(be));
  auto error_code = [](const RawFrame& f, size_t at) {
    return f.payload.size() >= at + 4 ? static_cast<uint8_t>(f.payload[at + 3]) : 0xff;
  };
  {
    RawH2 client(gw.port());
    client.Send(Frame(kHeaders, kEndStream | kEndHeaders, 1, GetHeaderBlock("/a")));
    client.ReadUntil([&] { return !client.DataOf(1).empty(); }, seconds(5));
    ASSERT_EQ(client.DataOf(1), R"({"a":1,"target":"/a"})");
    // Stream 1 is closed (both sides ended it): DATA on it.
    client.Send(Frame(kData, kEndStream, 1, "late"));
    client.ReadUntil([&] { return client.Has(kGoaway) || client.Has(kRstStream); }, seconds(5));
    bool stream_closed = false;
    for (const auto& f : client.frames()) {
      if (f.type == kRstStream && f.stream == 1) stream_closed |= error_code(f, 0) == 0x5;
      if (f.type == kGoaway) stream_closed |= error_code(f, 4) == 0x5;
    }
    EXPECT_TRUE(stream_closed) << "STREAM_CLOSED (0x5) as a stream or connection error";
  }
  {
    RawH2 client(gw.port());
    client.Send(Frame(kHeaders, kEndStream | kEndHeaders, 5, GetHeaderBlock("/a")));
    client.ReadUntil([&] { return !client.DataOf(5).empty(); }, seconds(5));
    client.Send(Frame(kHeaders, kEndStream | kEndHeaders, 3, GetHeaderBlock("/a")));
    client.ReadUntil([&] { return client.Has(kGoaway); }, seconds(5));
    bool protocol_error = false;
    for (const auto& f : client.frames()) {
      if (f.type == kGoaway) protocol_error |= error_code(f, 4) == 0x1;
    }
    EXPECT_TRUE(protocol_error) << "GOAWAY PROTOCOL_ERROR (0x1) for a reused lower stream id";
    EXPECT_TRUE(client.DataOf(3).empty());
  }
  EXPECT_EQ(Nghttp(gw.port(), "/a").status, 200u);
}

// Answers larger than the socket takes at once: a write sends what fits and the rest follows as
// the client reads (partly written at once, partly by an asynchronous write). Three 3 MiB
// answers on one connection, each of its own bytes, to a client with a 64 KiB receive buffer
// that reads only after a pause: each arrives whole.
TEST(H2Test, LargeAnswersOnSeveralStreamsArriveWhole) {
  auto body_of = [](char stream) {
    std::string body(3 << 20, ' ');
    for (size_t i = 0; i < body.size(); ++i) {
      body[i] = static_cast<char>('a' + (i / 1000 + static_cast<size_t>(stream)) % 26);
    }
    return body;
  };
  TestBackend big([&](const Request& req) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/octet-stream");
    res.body() = body_of(req.target().back());
    res.prepare_payload();
    return res;
  });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true,
    "extra_config": {"sluice/http": {"workers": 1}},
    "endpoints": [{"endpoint": "/big/{n}", "output_encoding": "no-op",
      "backend": [{"host": [")" +
                   big.url() + R"("], "url_pattern": "/big/{n}",
                   "encoding": "no-op"}]}]})");
  RawH2 client(gw.port(), 64 * 1024);
  // Flow control out of the way: the largest stream window, and as much for the connection.
  constexpr uint32_t kMaxWindow = 0x7fffffff;
  std::string settings = {0x00, 0x04};  // SETTINGS_INITIAL_WINDOW_SIZE
  for (int shift : {24, 16, 8, 0}) settings.push_back(static_cast<char>(kMaxWindow >> shift));
  std::string increment;
  for (int shift : {24, 16, 8, 0}) {
    increment.push_back(static_cast<char>((kMaxWindow - 65535) >> shift));
  }
  constexpr uint8_t kWindowUpdate = 0x8;
  ASSERT_TRUE(
      client.Send(Frame(kSettings, 0, 0, settings) + Frame(kWindowUpdate, 0, 0, increment)));
  for (uint32_t stream : {1u, 3u, 5u}) {
    ASSERT_TRUE(client.Send(Frame(kHeaders, kEndStream | kEndHeaders, stream,
                                  GetHeaderBlock("/big/" + std::to_string(stream)))));
  }
  std::this_thread::sleep_for(milliseconds(300));  // the socket fills meanwhile
  auto ended = [&](uint32_t stream) {
    for (const auto& f : client.frames()) {
      if (f.type == kData && f.stream == stream && (f.flags & kEndStream) != 0) return true;
    }
    return false;
  };
  client.ReadUntil([&] { return ended(1) && ended(3) && ended(5); }, seconds(20));
  for (uint32_t stream : {1u, 3u, 5u}) {
    const std::string got = client.DataOf(stream);
    EXPECT_EQ(got.size(), size_t{3} << 20) << "stream " << stream;
    EXPECT_TRUE(got == body_of(static_cast<char>('0' + stream))) << "stream " << stream;
  }
}

TEST(H2Test, PingsDoNotKeepAnIdleConnectionOpen) {
  Backends be;
  SluiceProcess gw(Config(be, true, R"("idle_timeout": "1s",)"));
  RawH2 client(gw.port());
  client.Send(Frame(kHeaders, kEndStream | kEndHeaders, 1, GetHeaderBlock("/a")));
  client.ReadUntil([&] { return !client.DataOf(1).empty(); }, seconds(5));
  ASSERT_EQ(client.DataOf(1), R"({"a":1,"target":"/a"})");
  // Idle from here on, but for a PING every 200 ms (each one answered by the server).
  const auto start = steady_clock::now();
  while (!client.closed() && steady_clock::now() - start < seconds(10)) {
    client.Send(Frame(kPing, 0, 0, "pingpong"));
    client.ReadUntil([] { return false; }, milliseconds(200));
  }
  const auto held = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  EXPECT_TRUE(client.closed()) << "PINGs kept an idle connection open for " << held.count()
                               << " ms";
  EXPECT_TRUE(client.Has(kGoaway));
  EXPECT_LT(held, milliseconds(6000));  // 1 s idle limit; PINGs would keep it the whole 10 s
  std::cerr << "idle connection sending PINGs closed after " << held.count() << " ms\n";
}

TEST(H2Test, StalledRequestBodyTimesOutByItsOwnClock) {
  Backends be;
  SluiceProcess gw(Config(be, true, R"("read_timeout": "1s",)"));
  RawH2 client(gw.port());
  // Stream 1: a POST whose body never ends.
  client.Send(Frame(kHeaders, kEndHeaders, 1, PostHeaderBlock("/items")) +
              Frame(kData, 0, 1, "{\"x\":"));
  // Meanwhile the connection is busy: a GET answered and a PING every 200 ms.
  const auto start = steady_clock::now();
  uint32_t next = 3;
  while (client.DataOf(1).empty() && !client.closed() &&
         steady_clock::now() - start < seconds(10)) {
    client.Send(Frame(kHeaders, kEndStream | kEndHeaders, next, GetHeaderBlock("/a")) +
                Frame(kPing, 0, 0, "pingpong"));
    next += 2;
    client.ReadUntil([] { return false; }, milliseconds(200));
  }
  const auto waited = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  EXPECT_EQ(client.DataOf(1), "408 request timeout");
  EXPECT_LT(waited, milliseconds(6000));  // 1 s read limit; the busy connection's clock: 10 s
  client.ReadUntil([&] { return client.Has(kRstStream); }, seconds(2));
  EXPECT_TRUE(client.Has(kRstStream)) << "the client is told to stop sending the body";
  EXPECT_FALSE(client.closed()) << "only the stream ends, not the connection";
  EXPECT_EQ(client.DataOf(3), R"({"a":1,"target":"/a"})");
  EXPECT_EQ(be.store.request_count(), 0u);
  std::cerr << "stalled body answered 408 after " << waited.count() << " ms, " << (next - 3) / 2
            << " other streams served meanwhile\n";
}

// Streams each holding ~8.8 MB of head (120,000 one-byte fields): the connection's budget
// (16 MiB with the defaults) takes one; the others are answered 503 at once instead of growing
// the process by 8.8 MB each.
TEST(H2Test, HeaderMemoryIsCountedAsItReallyIs) {
  Backends be;
  SluiceProcess gw(Config(be));
  ASSERT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  const long rss_before = RssKiB(gw.pid());
  RawH2 client(gw.port());
  constexpr int kStreams = 20;
  for (int i = 0; i < kStreams; ++i) {
    // No END_STREAM: the heads stay held while the bodies are awaited.
    ASSERT_TRUE(client.Send(IndexedFieldsHead(2 * i + 1, "/a", 120000, false)));
    client.Drain();
  }
  auto refused = [&] {
    int n = 0;
    for (int i = 0; i < kStreams; ++i) {
      n += client.DataOf(2 * i + 1) == "503 request buffers full, retry later";
    }
    return n;
  };
  client.ReadUntil([&] { return refused() == kStreams - 1; }, seconds(60));
  const long rss_after = RssKiB(gw.pid());
  EXPECT_EQ(refused(), kStreams - 1);
  EXPECT_TRUE(client.DataOf(1).empty()) << "the first stream fits and waits for its body";
  EXPECT_FALSE(client.closed());
  EXPECT_LT(rss_after - rss_before, 48 * 1024 * kRssAllowanceFactor)
      << rss_before << " KiB -> " << rss_after << " KiB";
  // The first stream is served once its body ends.
  client.Send(Frame(kData, kEndStream, 1, ""));
  client.ReadUntil([&] { return !client.DataOf(1).empty(); }, seconds(5));
  EXPECT_EQ(client.DataOf(1), R"({"a":1,"target":"/a"})");
  std::cerr << "20 heads of 8.8 MB each on one connection: " << refused() << " refused, RSS "
            << rss_before << " -> " << rss_after << " KiB\n";
}

// Sends `size` bytes of body on each of `streams` (no END_STREAM), keeping to the flow-control
// windows the server grants; a stream the server answers stops. Bounded by `limit`; false when
// it passed (or the connection closed) first.
bool SendBodies(RawH2& client, const std::vector<uint32_t>& streams, size_t size,
                milliseconds limit) {
  int64_t connection_window = 65535;
  std::map<uint32_t, int64_t> window, sent;
  for (uint32_t id : streams) window[id] = 65535;
  size_t frames_seen = 0;
  const std::string chunk(16384, 'y');
  const auto deadline = steady_clock::now() + limit;
  while (steady_clock::now() < deadline && !client.closed()) {
    bool progress = false;
    for (uint32_t id : streams) {
      if (!client.DataOf(id).empty() || sent[id] >= static_cast<int64_t>(size)) continue;
      const int64_t n = std::min<int64_t>(
          {16384, window[id], connection_window, static_cast<int64_t>(size) - sent[id]});
      if (n <= 0) continue;
      if (!client.Send(Frame(kData, 0, id, std::string_view(chunk).substr(0, n)))) return false;
      window[id] -= n;
      connection_window -= n;
      sent[id] += n;
      progress = true;
    }
    bool done = true;
    for (uint32_t id : streams) {
      done = done && (!client.DataOf(id).empty() || sent[id] >= static_cast<int64_t>(size));
    }
    if (done) return true;
    if (progress) {
      client.Drain();
    } else {
      client.ReadUntil([&] { return client.frames().size() > frames_seen; }, milliseconds(100));
    }
    for (; frames_seen < client.frames().size(); ++frames_seen) {
      const RawFrame& f = client.frames()[frames_seen];
      if (f.type != 0x8 || f.payload.size() != 4) continue;  // WINDOW_UPDATE
      const int64_t inc = ((static_cast<uint8_t>(f.payload[0]) & 0x7f) << 24) |
                          (static_cast<uint8_t>(f.payload[1]) << 16) |
                          (static_cast<uint8_t>(f.payload[2]) << 8) |
                          static_cast<uint8_t>(f.payload[3]);
      (f.stream == 0 ? connection_window : window[f.stream]) += inc;
    }
  }
  return false;
}

TEST(H2Test, BufferedBodiesAreBoundedPerConnection) {
  TestBackend store([](const Request& req) {
    return TestBackend::Json(R"({"size":)" + std::to_string(req.body().size()) + "}");
  });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true,
      "extra_config": {"sluice/http": {"workers": 1, "max_body_bytes": 10485760}},
      "endpoints": [{"endpoint": "/items", "method": "POST", "output_encoding": "no-op",
        "backend": [{"host": [")" +
                   store.url() + R"("], "url_pattern": "/s", "encoding": "no-op"}]}]})");
  ASSERT_EQ(Fetch(gw.port(), "GET", "/__health").result_int(), 200u);
  const long rss_before = RssKiB(gw.pid());
  RawH2 client(gw.port());
  std::vector<uint32_t> streams;
  for (uint32_t i = 0; i < 40; ++i) {
    streams.push_back(2 * i + 1);
    client.Send(Frame(kHeaders, kEndHeaders, 2 * i + 1, PostHeaderBlock("/items")));
  }
  // 40 bodies of 1 MiB, none finished: 40 MiB if all were held.
  // (Bounds for a machine many times slower than a laptop: they cost time only on failure.)
  ASSERT_TRUE(SendBodies(client, streams, 1 << 20, seconds(120)));
  auto refusals = [&] {
    int n = 0;
    for (uint32_t id : streams) n += client.DataOf(id) == "503 request buffers full, retry later";
    return n;
  };
  // The PING is answered once the gateway has taken in every frame before it (and so refused what
  // it refuses); the answers it queued with the ACK follow at once.
  const size_t frames_before = client.frames().size();
  client.Send(Frame(kPing, 0, 0, "pingpong"));
  client.ReadUntil(
      [&] {
        for (size_t i = frames_before; i < client.frames().size(); ++i) {
          if (client.frames()[i].type == kPing && client.frames()[i].flags == 0x1) return true;
        }
        return false;
      },
      seconds(20));
  client.ReadUntil([] { return false; }, milliseconds(500));
  const int refused = refusals();
  const long rss_after = RssKiB(gw.pid());
  EXPECT_GE(refused, 40 - 16) << "a connection holds at most 16 MiB of request bodies";
  EXPECT_LT(refused, 40);
  EXPECT_LT(rss_after - rss_before, 40 * 1024 * kRssAllowanceFactor)
      << rss_before << " KiB -> " << rss_after << " KiB";
  EXPECT_EQ(store.request_count(), 0u);
  // A stream that was kept is served whole once it ends.
  uint32_t kept = 0;
  for (uint32_t id : streams) {
    if (client.DataOf(id).empty()) kept = id;
  }
  ASSERT_NE(kept, 0u);
  client.Send(Frame(kData, kEndStream, kept, ""));
  client.ReadUntil([&] { return !client.DataOf(kept).empty(); }, seconds(5));
  EXPECT_EQ(client.DataOf(kept), R"({"size":1048576})");
  std::cerr << "40 bodies of 1 MiB on one connection: " << refused << " refused, RSS " << rss_before
            << " -> " << rss_after << " KiB\n";
}

TEST(H2Test, BufferedRequestBytesAreBoundedPerProcess) {
  Backends be;
  // 12 MiB for the whole process: one head of 8.8 MB fits, two do not, whatever the connection.
  std::string config = Config(be);
  config.insert(config.find("\"max_body_bytes\""), "\"max_buffered_request_bytes\": 12582912, ");
  SluiceProcess gw(config);
  auto holder = std::make_unique<RawH2>(gw.port());
  holder->Send(IndexedFieldsHead(1, "/a", 120000, false));
  // The holder's head is decoded and charged (field by field) before the other arrives.
  ASSERT_TRUE(Eventually([&] {
    holder->Drain();
    return Sample(MetricsPage(gw), "sluice_buffered_request_bytes") >= 8e6;
  }));
  ASSERT_TRUE(holder->DataOf(1).empty());

  RawH2 other(gw.port());
  other.Send(IndexedFieldsHead(1, "/a", 120000, false));
  other.ReadUntil([&] { return !other.DataOf(1).empty(); }, seconds(5));
  EXPECT_EQ(other.DataOf(1), "503 request buffers full, retry later");

  // Once the holder's connection is gone, its bytes are free again.
  holder.reset();
  bool served = false;
  for (uint32_t id = 3; id < 43 && !served; id += 2) {
    other.Send(IndexedFieldsHead(id, "/a", 120000, true));
    other.ReadUntil([&] { return !other.DataOf(id).empty(); }, seconds(5));
    served = other.DataOf(id) == R"({"a":1,"target":"/a"})";
    if (!served) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(served);
}

// ---------------------------------------------------------------------------------------------
// HAProxy with `proto h2` in front of two instances

// haproxy in the foreground with `config`, its frontend on an already listening socket (passed
// as fd 3: no fixed port, no race for one). SIGKILLed when destroyed.
class Haproxy {
 public:
  explicit Haproxy(const std::string& config) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener_, 128) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen for haproxy";
      return;
    }
    port_ = ntohs(addr.sin_port);
    config_path_ = TempPath("haproxy.cfg");
    std::ofstream(config_path_) << config;
    const std::string bin = Which("haproxy");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(listener_, 3);
      if (listener_ != 3) close(listener_);
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      execl(bin.c_str(), "haproxy", "-db", "-f", config_path_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Haproxy() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (listener_ >= 0) close(listener_);
    unlink(config_path_.c_str());
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string config_path_;
};

std::string HaproxyConfig(const std::vector<uint16_t>& servers) {
  std::string cfg =
      "global\n  maxconn 256\n"
      "defaults\n  mode http\n  timeout connect 5s\n  timeout client 20s\n  timeout server 20s\n"
      "frontend public\n  bind fd@3\n  default_backend sluice\n"
      "backend sluice\n  balance roundrobin\n";
  for (size_t i = 0; i < servers.size(); ++i) {
    cfg += "  server s" + std::to_string(i) + " 127.0.0.1:" + std::to_string(servers[i]) +
           " proto h2\n";
  }
  return cfg;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(H2Test, HaproxyProtoH2ToTwoInstances) {
  RequireTool("haproxy");
  Backends be;
  SluiceProcess one(Config(be)), two(Config(be));
  Haproxy lb(HaproxyConfig({one.port(), two.port()}));
  ASSERT_NE(lb.port(), 0);

  HttpClient client(lb.port());
  for (int round = 0; round < 2; ++round) {  // round robin: each instance answers each check
    Response a = client.Get("/a?x=1");
    ASSERT_EQ(a.result_int(), 200u) << client.error();
    EXPECT_EQ(a.body(), R"({"a":1,"target":"/a"})");
    EXPECT_EQ(Header(a, "Content-Type"), "application/json; charset=utf-8");
    EXPECT_EQ(Header(a, "X-Krakend"), "Sluice Version 0.1.0");
    EXPECT_EQ(Header(a, "X-Krakend-Completed"), "true");

    Response agg = client.Get("/agg");
    EXPECT_EQ(agg.result_int(), 200u);
    EXPECT_EQ(agg.body(), R"({"a":1,"b":2})");

    Request post(bhttp::verb::post, "/items", 11);
    post.set(bhttp::field::content_type, "application/json");
    post.body() = R"({"n":)" + std::to_string(round) + "}";
    Response created = client.Send(std::move(post));
    EXPECT_EQ(created.result_int(), 200u);
    EXPECT_EQ(created.body(), R"({"got":{"n":)" + std::to_string(round) + "}}");

    Response head = client.Send(Request(bhttp::verb::head, "/a", 11));
    EXPECT_EQ(head.result_int(), 200u);
    EXPECT_EQ(Header(head, "Content-Length"), std::to_string(a.body().size()));
    EXPECT_EQ(head.body(), "");

    Response raw = client.Get("/raw");
    EXPECT_EQ(raw.result_int(), 200u);
    EXPECT_EQ(raw.body(), R"({"a":1,"target":"/raw"})");

    Response missing = client.Get("/nope");
    EXPECT_EQ(missing.result_int(), 404u);
    EXPECT_EQ(missing.body(), "404 page not found");
  }
  EXPECT_EQ(be.store.request_count(), 2u);
  // Both instances served (over h2: HAProxy's `proto h2` speaks nothing else to them).
  EXPECT_TRUE(Eventually([&] {
    return Count(one.log(), "[ACCESS]") >= 4 && Count(two.log(), "[ACCESS]") >= 4;
  })) << one.log()
      << two.log();

  // The control: an instance without use_h2c cannot serve HAProxy's h2.
  SluiceProcess h1_only(Config(be, /*h2c=*/false));
  Haproxy lb_h1(HaproxyConfig({h1_only.port()}));
  Response refused = Fetch(lb_h1.port(), "GET", "/a");
  EXPECT_GE(refused.result_int(), 500u);
}

}  // namespace
}  // namespace sluice::testing
