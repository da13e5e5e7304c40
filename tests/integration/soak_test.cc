// Soak: mixed HTTP/1.1, h2c and gRPC-backed traffic through the real binary while its backends
// misbehave — a REST and a gRPC backend SIGKILLed and restarted on their ports, and a scripted
// backend that answers slowly past the endpoint timeout, resets mid-answer, or answers bytes that
// are not HTTP. Every answer must be whole: a 200 with the backend's data or a clean 5xx (never a
// dropped connection, a 4xx or a mix); the process must not crash; RSS and open descriptors must
// stay flat. SLUICE_SOAK_SECONDS sets the length (CI: 120 s optimised, 60 s under ASan; the
// documented long run: 1800, docs/security.md).

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

#ifdef __SANITIZE_ADDRESS__
constexpr int kDefaultSeconds = 60;
#else
constexpr int kDefaultSeconds = 120;
#endif

int SoakSeconds() {
  const char* v = std::getenv("SLUICE_SOAK_SECONDS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : kDefaultSeconds;
}

// A helper server that is SIGKILLed and started again on the same port, over and over.
class Flapping {
 public:
  Flapping(std::string runfile, std::string listening, milliseconds up, milliseconds down)
      : runfile_(std::move(runfile)),
        listening_(std::move(listening)),
        port_(FreePort()),
        up_(up),
        down_(down) {
    Start();
  }
  ~Flapping() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return port_; }
  void Run() {
    thread_ = std::thread([this] {
      while (!stop_) {
        Sleep(up_);
        if (stop_) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          server_->StopWith(SIGKILL);
          server_.reset();
        }
        ++kills_;
        Sleep(down_);
        Start();
      }
    });
  }
  int kills() const { return kills_.load(); }

 private:
  void Sleep(milliseconds d) {
    for (auto end = steady_clock::now() + d; !stop_ && steady_clock::now() < end;) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    server_ = std::make_unique<ServerProcess>(
        runfile_, std::vector<std::string>{"--port", std::to_string(port_)}, listening_);
  }
  const std::string runfile_, listening_;
  const uint16_t port_;
  const milliseconds up_, down_;
  std::mutex mu_;
  std::unique_ptr<ServerProcess> server_;
  std::atomic<bool> stop_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

// Slow (a body byte every 100 ms, past the 500 ms timeout), reset mid-answer, not HTTP, or a
// good answer, in turn.
ScriptedBackend::Reply Misbehave(const Request&) {
  static std::atomic<int> n{0};
  ScriptedBackend::Reply r;
  switch (n++ % 4) {
    case 0:
      r.bytes = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{";
      r.repeat = " ";
      r.repeat_count = 30;
      r.repeat_interval = milliseconds(100);
      r.close = true;
      break;
    case 1:
      r.bytes =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"cut";
      r.close = true;
      break;
    case 2:
      r.bytes = std::string("\x00\xff\xfe garbage, not HTTP \r\n\r\n", 26);
      r.close = true;
      break;
    default:
      r.bytes =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
          "11\r\n\r\n{\"ok\":true}";
      break;
  }
  return r;
}

struct Tally {
  std::atomic<long> ok{0}, clean_5xx{0}, bad{0};
  std::mutex mu;
  std::map<std::string, int> bad_kinds;
  void Bad(const std::string& what) {
    ++bad;
    std::lock_guard<std::mutex> lock(mu);
    if (bad_kinds.size() < 20) ++bad_kinds[what.substr(0, 200)];
  }
};

TEST(SoakTest, MisbehavingBackendsNeverCrashLeakOrDropAClient) {
  const int total_seconds = SoakSeconds();
  Flapping rest("tools/demo_backend/demo_backend",
                R"(demo_backend listening on 127\.0\.0\.1:(\d+)\n)", milliseconds(4000),
                milliseconds(700));
  Flapping grpc("tools/demo_grpc/demo_grpc", R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)",
                milliseconds(5500), milliseconds(900));
  ScriptedBackend evil(&Misbehave);
  const std::string config = absl::StrReplaceAll(
      R"({"version": 3, "use_h2c": true, "timeout": "500ms",
          "extra_config": {"router": {"disable_access_log": true}},
          "endpoints": [
        {"endpoint": "/rest", "backend": [{"host": ["http://127.0.0.1:{{R}}"], "url_pattern": "/status"}]},
        {"endpoint": "/p/{id}", "backend": [{"host": ["127.0.0.1:{{G}}"],
          "url_pattern": "/shop.Shop/GetProduct",
          "extra_config": {"backend/grpc": {"descriptor_source": "reflection"}}}]},
        {"endpoint": "/evil", "backend": [{"host": ["{{E}}"], "url_pattern": "/x"}]},
        {"endpoint": "/mixed/{id}", "backend": [
          {"host": ["http://127.0.0.1:{{R}}"], "url_pattern": "/status", "group": "rest"},
          {"host": ["{{E}}"], "url_pattern": "/y", "group": "evil"},
          {"host": ["127.0.0.1:{{G}}"], "url_pattern": "/shop.Shop/GetProduct", "group": "grpc",
           "extra_config": {"backend/grpc": {"descriptor_source": "reflection"}}}]}]})",
      {{"{{R}}", std::to_string(rest.port())},
       {"{{G}}", std::to_string(grpc.port())},
       {"{{E}}", evil.url()}});
  SluiceProcess gw(config);
  ASSERT_NE(gw.port(), 0);
  rest.Run();
  grpc.Run();

  Tally tally;
  std::atomic<bool> stop{false};
  auto judge = [&](const Response& r, const std::string& error, const std::string& target) {
    const unsigned s = r.result_int();
    if (s == 200 && !r.body().empty() && r.body().front() == '{' && r.body().back() == '}') {
      ++tally.ok;
    } else if (s >= 500 && s <= 504) {
      ++tally.clean_5xx;
    } else {
      tally.Bad(target + " -> " + std::to_string(s) + " " + r.body() + " " + error);
    }
  };
  const std::vector<std::string> targets = {"/rest", "/p/1", "/evil", "/mixed/2"};
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      auto client = std::make_unique<HttpClient>(gw.port());
      for (size_t i = c; !stop.load(); ++i) {
        const std::string& target = targets[i % targets.size()];
        Response r = client->Get(target);
        judge(r, client->error(), target);
        // Every few requests a new connection, as a real client pool does.
        if (i % 50 == 0) client = std::make_unique<HttpClient>(gw.port());
      }
    });
  }
  // h2c: h2load bursts, each bounded, to every target.
  std::atomic<long> h2_requests{0};
  clients.emplace_back([&] {
    static const std::regex kCodes(R"(status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx)");
    static const std::regex kRequests(
        R"(requests: (\d+) total, \d+ started, (\d+) done, \d+ succeeded, \d+ failed, (\d+) errored, (\d+) timeout)");
    for (size_t i = 0; !stop.load(); ++i) {
      const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + targets[i % 4];
      CommandResult h2 =
          RunCommand({"h2load", "-n", "400", "-c", "2", "-m", "8", url}, seconds(60));
      std::smatch codes, requests;
      if (!std::regex_search(h2.out, codes, kCodes) ||
          !std::regex_search(h2.out, requests, kRequests)) {
        tally.Bad("h2load " + targets[i % 4] + ": " + h2.out + h2.err);
        continue;
      }
      h2_requests += std::stol(requests[2]);
      tally.ok += std::stol(codes[1]);
      tally.clean_5xx += std::stol(codes[4]);
      if (codes[2] != "0" || codes[3] != "0" || requests[3] != "0" || requests[4] != "0" ||
          requests[1] != requests[2]) {
        tally.Bad("h2load " + targets[i % 4] + ": " + std::string(codes[0]) + "; " +
                  std::string(requests[0]));
      }
    }
  });

  const auto start = steady_clock::now();
  const auto warm = start + seconds(std::min(15, total_seconds / 4));
  std::this_thread::sleep_until(warm);
  const long rss_start = RssKiB(gw.pid());
  const int fds_start = OpenFds(gw.pid());
  std::this_thread::sleep_until(start + seconds(total_seconds));
  stop = true;
  for (auto& t : clients) t.join();
  std::this_thread::sleep_for(seconds(1));  // connections of the last burst close
  const long rss_end = RssKiB(gw.pid());
  const int fds_end = OpenFds(gw.pid());

  std::cerr << "soak " << total_seconds << " s: " << tally.ok.load() << " ok, "
            << tally.clean_5xx.load() << " clean 5xx, " << tally.bad.load() << " bad ("
            << h2_requests.load() << " over h2c); backends killed: REST " << rest.kills()
            << ", gRPC " << grpc.kills() << "; RSS " << rss_start << " -> " << rss_end
            << " KiB; fds " << fds_start << " -> " << fds_end << "\n";
  for (const auto& [what, n] : tally.bad_kinds) ADD_FAILURE() << n << " x " << what;
  EXPECT_EQ(tally.bad.load(), 0);
  EXPECT_GT(tally.ok.load(), 100);
  EXPECT_GT(tally.clean_5xx.load(), 100);
  EXPECT_GE(rest.kills(), total_seconds / 10);
  // Flat: the first quarter's level, plus what allocator pools and connection buffers hold.
  EXPECT_LT(rss_end, rss_start * 5 / 4 + 16 * 1024) << "KiB";
  EXPECT_LE(fds_end, fds_start + 16);
  EXPECT_EQ(gw.StopWith(SIGTERM), 0) << gw.log();
}

}  // namespace
}  // namespace sluice::testing
