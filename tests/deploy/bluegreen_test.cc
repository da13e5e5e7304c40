// Blue/green and failover behind a real HAProxy (deploy/haproxy/haproxy.cfg, unchanged), under
// continuous bounded load from closed-loop clients:
//
//  * tools/bluegreen moves traffic from blue (rev A) to green (rev B) and stops blue: no request
//    fails, HAProxy never had to retry one, and each node reports its own revision.
//  * SIGKILL of one of two instances loses only requests it had when it died (the ones in flight,
//    and any that reached it while it was torn down); HAProxy redispatches what it sends it
//    afterwards, takes it out, and puts its replacement back in.
//
// Both print their numbers (docs/deploy.md records them).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/admin/admin.grpc.pb.h"
#include "tests/deploy/process.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kHaproxy[] = "/usr/sbin/haproxy";
constexpr char kToken[] = "bluegreen-test-token-0b7e";
constexpr char kBody[] = R"({"hello":"world"})";
// Closed-loop clients: each sends its next request when the previous one is answered.
constexpr int kClients = 8;
// Bounds on the load whatever happens: per client, and in time for the whole test.
constexpr uint64_t kMaxRequestsPerClient = 200000;
constexpr auto kLoadLimit = std::chrono::seconds(120);
// Requests that must succeed in each phase before the next one starts.
constexpr uint64_t kPhaseRequests = 500;
// Limit for every single wait below (HAProxy checks every 500 ms; fall 2, rise 2).
constexpr auto kWaitLimit = std::chrono::seconds(30);

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(dir ? dir : ".") + "/" + (ws ? ws : "sluice") + "/" + path;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The access log is off: the harness reads an instance's stderr only when asked, and thousands of
// access lines would fill the pipe and block the log writer (see docs/deploy.md, "Logs").
// With `tls_dir`, the instance serves TLS with tls_dir/server.pem
// (tests/integration/tls_fixtures.py).
std::string GatewayConfig(const TestBackend& backend, const std::string& name,
                          const std::string& tls_dir = "") {
  const std::string tls = tls_dir.empty() ? ""
                                          : R"("tls": {"public_key": ")" + tls_dir +
                                                R"(/server.pem", "private_key": ")" + tls_dir +
                                                R"(/server.key"},)";
  return R"({
  "version": 3,
  "name": ")" +
         name + R"(",
  )" + tls +
         R"(
  "timeout": "10s",
  "max_shutdown_wait_time": "10s",
  "extra_config": {
    "sluice/admin": {"token_env": "SLUICE_ADMIN_TOKEN"},
    "sluice/http": {"workers": 2},
    "router": {"disable_access_log": true}
  },
  "endpoints": [
    {"endpoint": "/hello", "backend": [{"host": [")" +
         backend.url() + R"("], "url_pattern": "/hello"}]}
  ]
})";
}

std::vector<std::string> GatewayEnv() { return {std::string("SLUICE_ADMIN_TOKEN=") + kToken}; }

// A port on 127.0.0.1 that refuses connections for as long as this object lives: bound, never
// listening, so nobody else can take it. HAProxy's green slot points here until green exists.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// HAProxy with deploy/haproxy/haproxy.cfg. Its public listener is a socket this test creates
// (passed as fd 3, `bind fd@3`), so its port is known without guessing a free one.
class Haproxy {
 public:
  // `server_tls`: HAProxy's server options to re-encrypt (SLUICE_SERVER_TLS), or empty.
  Haproxy(const std::string& blue, const std::string& green, const std::string& server_tls = "") {
    // A Unix socket path has at most 107 bytes, and HAProxy wants 97; TEST_TMPDIR is longer.
    char dir[] = "/tmp/sluice-haproxy-XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
    socket_path_ = dir_ + "/admin.sock";
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener, 512) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot create HAProxy's listener";
    }
    port_ = ntohs(addr.sin_port);
    Command command;
    command.argv = {kHaproxy, "-db", "-f", Runfile("deploy/haproxy/haproxy.cfg")};
    command.env = {"SLUICE_LB_BIND=fd@3", "SLUICE_BLUE=" + blue, "SLUICE_GREEN=" + green,
                   "HAPROXY_ADMIN_SOCKET=" + socket_path_, "SLUICE_SERVER_TLS=" + server_tls};
    command.pass_fd = listener;
    process_ = std::make_unique<Process>(command);
    close(listener);
    const bool up = Eventually(
        [&] {
          return Send("show info").find("Name: HAProxy") != std::string::npos ||
                 process_->Wait(std::chrono::milliseconds(0)).has_value();
        },
        kWaitLimit);
    if (!up || process_->Wait(std::chrono::milliseconds(0)).has_value()) {
      ADD_FAILURE() << "HAProxy did not start:\n" << process_->output();
    }
  }

  ~Haproxy() {
    process_.reset();
    unlink(socket_path_.c_str());
    rmdir(dir_.c_str());
  }

  uint16_t port() const { return port_; }
  const std::string& socket_path() const { return socket_path_; }
  std::string log() { return process_->output(); }

  // One runtime API command; the answer, or "" if the socket does not answer.
  std::string Send(const std::string& command) const {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path_.c_str());
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      const std::string line = command + "\n";
      if (write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
        char buf[8192];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) answer.append(buf, static_cast<size_t>(n));
      }
    }
    close(fd);
    return answer;
  }

  // `show stat` columns of one row (proxy "sluice", `server` or "BACKEND"; or "public" FRONTEND).
  std::map<std::string, std::string> Stat(const std::string& proxy, const std::string& server) {
    std::istringstream csv(Send("show stat"));
    std::string line;
    std::vector<std::string> columns;
    while (std::getline(csv, line)) {
      std::vector<std::string> cells;
      std::stringstream row(line.rfind("# ", 0) == 0 ? line.substr(2) : line);
      std::string cell;
      while (std::getline(row, cell, ',')) cells.push_back(cell);
      if (line.rfind("# ", 0) == 0) {
        columns = cells;
      } else if (cells.size() >= 2 && cells[0] == proxy && cells[1] == server) {
        std::map<std::string, std::string> stat;
        for (size_t i = 0; i < columns.size() && i < cells.size(); ++i) stat[columns[i]] = cells[i];
        return stat;
      }
    }
    return {};
  }

  uint64_t Counter(const std::string& proxy, const std::string& server, const std::string& name) {
    const std::string v = Stat(proxy, server)[name];
    return v.empty() ? 0 : std::stoull(v);
  }

  std::string Status(const std::string& server) { return Stat("sluice", server)["status"]; }

  bool WaitStatus(const std::string& server, const std::string& status) {
    return Eventually([&] { return Status(server) == status; }, kWaitLimit);
  }

  void SetAddress(const std::string& server, uint16_t port) {
    std::string answer =
        Send("set server sluice/" + server + " addr 127.0.0.1 port " + std::to_string(port));
    EXPECT_THAT(answer, HasSubstr("changed")) << answer;
  }

 private:
  uint16_t port_ = 0;
  std::string dir_;
  std::string socket_path_;
  std::unique_ptr<Process> process_;
};

// Closed-loop clients through HAProxy, counting every answer that is not the backend's 200.
class Load {
 public:
  enum class Connections {
    kMixed,  // half the clients keep their connection to HAProxy alive, half open one per request
    kNewPerRequest,
  };

  Load(uint16_t port, Connections connections) : port_(port), started_(Clock::now()) {
    for (int i = 0; i < kClients; ++i) {
      const bool keep_alive = connections == Connections::kMixed && i % 2 == 0;
      threads_.emplace_back([this, keep_alive] { Client(keep_alive); });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    if (!stopped_at_) stopped_at_ = Clock::now();
  }

  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }
  uint64_t sent() const { return sent_; }
  double seconds() const { return Seconds(stopped_at_.value_or(Clock::now()) - started_); }

  // Waits until `n` more requests than now have succeeded.
  bool WaitForMore(uint64_t n) {
    const uint64_t target = ok_ + n;
    return Eventually([&] { return ok_ >= target || stop_; }, kWaitLimit) && ok_ >= target;
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Client(bool keep_alive) {
    HttpClient kept(port_);
    const auto deadline = started_ + kLoadLimit;
    for (uint64_t i = 0; i < kMaxRequestsPerClient && !stop_ && Clock::now() < deadline; ++i) {
      HttpClient fresh(port_);
      HttpClient& client = keep_alive ? kept : fresh;
      Response res = client.Get("/hello");
      ++sent_;
      if (res.result_int() == 200 && res.body() == kBody) {
        ++ok_;
        continue;
      }
      ++failed_;
      std::lock_guard<std::mutex> lock(mu_);
      failures_.push_back(res.result_int() == 0 ? client.error()
                                                : "HTTP " + std::to_string(res.result_int()));
    }
  }

  const uint16_t port_;
  const Clock::time_point started_;
  std::optional<Clock::time_point> stopped_at_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0}, ok_{0}, failed_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

// admin.Admin of one instance.
class AdminClient {
 public:
  explicit AdminClient(const std::string& address)
      : stub_(admin::Admin::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  admin::StatusResponse Status() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    admin::StatusResponse s;
    grpc::Status st = stub_->Status(&ctx, {}, &s);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return s;
  }

  // Requests answered and in flight, summed over endpoints.
  std::pair<uint64_t, int64_t> Requests() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    admin::GetMetricsResponse m;
    grpc::Status st = stub_->GetMetrics(&ctx, {}, &m);
    EXPECT_TRUE(st.ok()) << st.error_message();
    uint64_t total = 0;
    int64_t in_flight = 0;
    for (const auto& e : m.endpoints()) {
      total += e.requests_total();
      in_flight += e.in_flight();
    }
    return {total, in_flight};
  }

 private:
  std::unique_ptr<admin::Admin::Stub> stub_;
};

std::string Loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// tools/bluegreen either asks HAProxy (runtime API) when green is UP and blue DOWN, or, knowing
// nothing of the balancer, waits for green to get traffic and for blue to get none for --quiet.
struct SwitchMode {
  const char* name;
  bool haproxy_socket;
  // The deployment practice with internal certificates: HAProxy verifies the instances' TLS
  // certificate (a test CA) and re-encrypts to them.
  bool tls = false;
};

// The test CA and the instances' certificate, made once per run.
std::string TlsDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string d = std::string(tmp != nullptr ? tmp : "/tmp") + "/bluegreen-tls";
    Command made;
    made.argv = {"/usr/bin/python3", Runfile("tests/integration/tls_fixtures.py"), d};
    Completed r = RunToEnd(made, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

void PrintTo(const SwitchMode& mode, std::ostream* os) { *os << mode.name; }

class BlueGreenSwitchTest : public ::testing::TestWithParam<SwitchMode> {};

TEST_P(BlueGreenSwitchTest, UnderLoadFailsNoRequestAndEachNodeNamesItsRevision) {
  const std::string rev_a = "Sluice rev-aaaaaaa";
  const std::string rev_b = "Sluice rev-bbbbbbb";
  TestBackend backend([](const Request&) { return TestBackend::Json(kBody); });
  const std::string tls_dir = GetParam().tls ? TlsDir() : "";
  SluiceProcess blue(GatewayConfig(backend, rev_a, tls_dir), {}, GatewayEnv());
  ASSERT_NE(blue.port(), 0);
  RefusingPort no_green_yet;
  Haproxy lb(Loopback(blue.port()), Loopback(no_green_yet.port()),
             tls_dir.empty() ? "" : "ssl verify required ca-file " + tls_dir + "/ca.pem");
  ASSERT_TRUE(lb.WaitStatus("blue", "UP")) << lb.log();
  // HAProxy starts every server UP: until its checks of the empty slot fail, it would send
  // requests there and redispatch them to blue. Start the load once green's slot is DOWN, so that
  // every counter below starts from a clean state.
  ASSERT_TRUE(lb.WaitStatus("green", "DOWN")) << lb.log();

  Load load(lb.port(), Load::Connections::kMixed);
  ASSERT_TRUE(load.WaitForMore(kPhaseRequests)) << "no traffic through HAProxy";

  // Green (rev B) starts next to blue and HAProxy learns its address, as after a deploy.
  SluiceProcess green(GatewayConfig(backend, rev_b, tls_dir), {}, GatewayEnv());
  ASSERT_NE(green.port(), 0);
  lb.SetAddress("green", green.port());
  AdminClient blue_admin(blue.admin_address());
  AdminClient green_admin(green.admin_address());
  EXPECT_EQ(blue_admin.Status().name(), rev_a);
  EXPECT_EQ(green_admin.Status().name(), rev_b);

  const auto switch_started = Clock::now();
  Command bluegreen;
  bluegreen.argv = {Runfile("tools/bluegreen"),
                    "--from",
                    blue.admin_address(),
                    "--to",
                    green.admin_address(),
                    "--timeout",
                    "30",
                    "--stop-cmd",
                    "kill -TERM " + std::to_string(blue.pid())};
  if (GetParam().haproxy_socket) {
    bluegreen.argv.insert(bluegreen.argv.end(),
                          {"--haproxy-socket", lb.socket_path(), "--quiet", "500ms"});
  } else {
    // Longer than HAProxy needs to take a drained server out: inter 500 ms x fall 2.
    bluegreen.argv.insert(bluegreen.argv.end(), {"--quiet", "1500ms"});
  }
  bluegreen.env = {"SLUICECTL=" + Runfile("tools/sluicectl/sluicectl"),
                   std::string("SLUICE_ADMIN_TOKEN=") + kToken};
  Completed run = RunToEnd(bluegreen, std::chrono::seconds(120));
  const double switch_seconds = Seconds(Clock::now() - switch_started);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err << lb.log();
  std::cout << run.out;
  EXPECT_THAT(run.out, HasSubstr("green " + green.admin_address() + ": " + rev_b));
  EXPECT_THAT(run.out, HasSubstr("blue  " + blue.admin_address() + ": " + rev_a));
  EXPECT_EQ(blue.StopWith(SIGTERM), 0) << "blue's exit after the script's SIGTERM";

  // Green alone now serves, still without a failure.
  EXPECT_EQ(lb.Status("blue"), "DOWN");
  ASSERT_TRUE(load.WaitForMore(kPhaseRequests));
  EXPECT_EQ(green_admin.Status().name(), rev_b);
  load.Stop();

  // HAProxy counts an answer when it has forwarded it; the client may read it a moment earlier.
  auto served = [&](const char* server) { return lb.Counter("sluice", server, "hrsp_2xx"); };
  EXPECT_TRUE(
      Eventually([&] { return served("blue") + served("green") == load.sent(); }, kWaitLimit))
      << served("blue") << " + " << served("green") << " answered by the servers, " << load.sent()
      << " sent";
  const uint64_t blue_served = served("blue");
  const uint64_t green_served = served("green");
  std::cout << "blue/green (" << GetParam().name << "): " << load.sent() << " requests in "
            << load.seconds() << " s, " << load.failed() << " failed; blue served " << blue_served
            << ", green " << green_served << "; the switch (tools/bluegreen) took "
            << switch_seconds << " s\n";
  EXPECT_EQ(load.failed(), 0u) << ::testing::PrintToString(load.failures());
  EXPECT_EQ(load.ok(), load.sent());
  EXPECT_GT(blue_served, kPhaseRequests);
  EXPECT_GT(green_served, kPhaseRequests);
  // Zero failures, and not because HAProxy hid any: no connection error, no retry or redispatch,
  // no aborted or 5xx response.
  for (const char* server : {"blue", "green"}) {
    for (const char* counter : {"econ", "eresp", "wretr", "wredis", "hrsp_5xx"}) {
      EXPECT_EQ(lb.Counter("sluice", server, counter), 0u) << server << " " << counter;
    }
  }
  EXPECT_EQ(lb.Counter("public", "FRONTEND", "hrsp_5xx"), 0u);
  if (GetParam().tls) {
    // Every answer went over TLS: the instances' port speaks nothing else.
    EXPECT_EQ(Fetch(green.port(), "GET", "/hello").result_int(), 400u) << "plain HTTP on green";
  }
  if (HasFailure()) std::cout << "HAProxy log:\n" << lb.log();
  RecordProperty("requests", std::to_string(load.sent()));
  RecordProperty("failed", std::to_string(load.failed()));
}

INSTANTIATE_TEST_SUITE_P(Modes, BlueGreenSwitchTest,
                         ::testing::Values(SwitchMode{"HAProxySocket", true},
                                           SwitchMode{"BalancerAgnostic", false},
                                           SwitchMode{"HAProxyReencryptsToTls", true, true}),
                         [](const ::testing::TestParamInfo<SwitchMode>& info) {
                           return std::string(info.param.name);
                         });

// Every client opens a new connection per request here. On a keep-alive connection HAProxy answers
// a request that died with its server by closing the connection, as an idle keep-alive connection
// closes, and counts it nowhere; a new connection gets a 502 that HAProxy counts as a server abort
// (eresp), so each lost request can be matched to one HAProxy had sent to the dead instance.
TEST(BlueGreenTest, SigkillLosesOnlyTheRequestsInFlightAndTheBalancerRecovers) {
  std::atomic<bool> hold{false};
  std::atomic<int> held{0};
  std::shared_future<void> opened;
  TestBackend backend_a([&hold, &held, &opened](const Request&) {
    if (hold) {
      ++held;
      opened.wait_for(kWaitLimit);
    }
    return TestBackend::Json(kBody);
  });
  TestBackend backend_b([](const Request&) { return TestBackend::Json(kBody); });
  Gate gate;  // declared after backend_a: opened before backend_a joins its handler threads
  opened = gate.opened();

  auto a = std::make_unique<SluiceProcess>(GatewayConfig(backend_a, "Sluice A"),
                                           std::vector<std::string>{}, GatewayEnv());
  SluiceProcess b(GatewayConfig(backend_b, "Sluice B"), {}, GatewayEnv());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b.port(), 0);
  Haproxy lb(Loopback(a->port()), Loopback(b.port()));
  ASSERT_TRUE(lb.WaitStatus("blue", "UP")) << lb.log();
  ASSERT_TRUE(lb.WaitStatus("green", "UP")) << lb.log();

  Load load(lb.port(), Load::Connections::kNewPerRequest);
  ASSERT_TRUE(load.WaitForMore(kPhaseRequests));
  ASSERT_EQ(load.failed(), 0u) << ::testing::PrintToString(load.failures());

  // Hold A's backend: one after the other, every client ends up waiting on a request through A.
  AdminClient a_admin(a->admin_address());
  hold = true;
  ASSERT_TRUE(Eventually([&] { return held == kClients; }, kWaitLimit))
      << held << " of " << kClients << " clients held at A";
  const int64_t in_flight = a_admin.Requests().second;
  EXPECT_EQ(in_flight, kClients) << "A's own count of requests in flight";
  const uint64_t ok_before_kill = load.ok();

  const auto killed_at = Clock::now();
  EXPECT_EQ(a->StopWith(SIGKILL), -SIGKILL);
  ASSERT_TRUE(lb.WaitStatus("blue", "DOWN")) << lb.log();
  const double detected_after = Seconds(Clock::now() - killed_at);
  const uint64_t lost = load.failed();
  ASSERT_TRUE(load.WaitForMore(kPhaseRequests)) << "no recovery on B alone";
  EXPECT_EQ(load.failed(), lost) << "requests failed after HAProxy took A out";

  // A replacement comes up where A was; HAProxy puts it back in rotation.
  hold = false;
  gate.Open();
  a = std::make_unique<SluiceProcess>(GatewayConfig(backend_a, "Sluice A, restarted"),
                                      std::vector<std::string>{}, GatewayEnv());
  ASSERT_NE(a->port(), 0);
  lb.SetAddress("blue", a->port());
  ASSERT_TRUE(lb.WaitStatus("blue", "UP")) << lb.log();
  AdminClient replacement(a->admin_address());
  ASSERT_TRUE(
      Eventually([&] { return replacement.Requests().first >= kPhaseRequests; }, kWaitLimit))
      << "the replacement got no traffic";
  load.Stop();

  const uint64_t aborted_by_a = lb.Counter("sluice", "blue", "eresp");
  // A connection refused and redispatched counts as a redispatch away from the server (wredis).
  const uint64_t refused_by_a = lb.Counter("sluice", "blue", "wredis");
  std::cout
      << "SIGKILL: " << in_flight << " requests in flight on the killed instance by its own "
      << "count, " << lost << " lost, " << aborted_by_a << " aborted by it as HAProxy counts; "
      << refused_by_a
      << " sent to it once it was gone, refused and redispatched; HAProxy marked it DOWN after "
      << detected_after << " s; " << load.sent() << " requests in " << load.seconds() << " s, "
      << load.ok() - ok_before_kill << " answered after the kill, " << replacement.Requests().first
      << " by the replacement\n";
  // Lost: the requests A was holding, and any that reached A while the kernel tore the process
  // down (connection accepted, then reset). HAProxy counts each as aborted by A, along with a few
  // it could still retry because the reset came before the request was sent.
  EXPECT_GE(lost, static_cast<uint64_t>(in_flight)) << "HAProxy replayed a request";
  EXPECT_LE(lost, aborted_by_a) << "a lost request that A never had";
  for (const std::string& failure : load.failures()) {
    EXPECT_EQ(failure, "HTTP 502") << "HAProxy answers 502 when a server dies mid-request";
  }
  // Requests HAProxy sent to A after it was gone (connection refused) all went to B instead.
  EXPECT_GT(refused_by_a, 0u);
  EXPECT_EQ(lb.Counter("public", "FRONTEND", "hrsp_503"), 0u) << "a retry that found no server";
  EXPECT_EQ(lb.Counter("sluice", "green", "eresp"), 0u);
  if (HasFailure()) std::cout << "HAProxy log:\n" << lb.log();
  RecordProperty("in_flight", std::to_string(in_flight));
  RecordProperty("lost", std::to_string(lost));
}

}  // namespace
}  // namespace sluice::testing
