// sluice/cluster-ratelimit through the real binaries: two Sluice instances sharing one Redis
// (redis-server started by the test) enforce one qos/ratelimit/router limit together; Redis
// killed mid-run gives the configured on_error (deny: 503 at once, allow: requests pass), with no
// wait beyond the timeout and no crash; Redis back, the limit resumes.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

bool Accepts(uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

// redis-server on 127.0.0.1:port, without persistence; SIGKILLed by Kill() or when destroyed.
class RedisServer {
 public:
  explicit RedisServer(uint16_t port) : port_(port) {
    const std::string binary = Which("redis-server");
    if (binary.empty()) {
      ADD_FAILURE() << "redis-server is not installed (tools/setup installs it)";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      const std::string p = std::to_string(port);
      execl(binary.c_str(), "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save",
            "", "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto limit = steady_clock::now() + std::chrono::seconds(10);
    while (!Accepts(port_) && steady_clock::now() < limit) {
      std::this_thread::sleep_for(milliseconds(20));  // waiting for the server to listen
    }
    EXPECT_TRUE(Accepts(port_)) << "redis-server did not listen on " << port_;
  }
  ~RedisServer() { Kill(); }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  uint16_t port_;
  pid_t pid_ = -1;
};

std::string Config(const std::string& backend_url, uint16_t redis_port, const std::string& on_error,
                   const std::string& prefix) {
  return R"({"version": 3, "extra_config": {
      "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"},
      "sluice/cluster-ratelimit": {"address": "127.0.0.1:)" +
         std::to_string(redis_port) + R"(", "timeout": "1s", "on_error": ")" + on_error +
         R"(", "prefix": ")" + prefix + R"("}},
      "endpoints": [{"endpoint": "/a", "extra_config": {
        "qos/ratelimit/router": {"max_rate": 50, "every": "1s"}},
        "backend": [{"host": [")" +
         backend_url + R"("], "url_pattern": "/a"}]}]})";
}

TEST(ClusterRateLimitTest, TwoInstancesShareOneLimit) {
  const uint16_t redis_port = FreePort();
  RedisServer redis(redis_port);
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess a(Config(backend.url(), redis_port, "deny", "t1:"));
  SluiceProcess b(Config(backend.url(), redis_port, "deny", "t1:"));
  // Two clients per instance for 3 s (bounded): the bucket starts full (capacity 50), then
  // admits 50 per second across both instances together.
  std::atomic<long> admitted{0}, refused{0}, other{0};
  // The bucket fills when the first request reaches Redis, not when the clients start (connecting
  // two instances to Redis can take a few hundred ms on a loaded machine): the window opens with
  // the first admission.
  std::atomic<steady_clock::rep> first_admitted{
      steady_clock::time_point::max().time_since_epoch().count()};
  const auto end = steady_clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> clients;
  for (uint16_t port : {a.port(), b.port(), a.port(), b.port()}) {
    clients.emplace_back([&, port] {
      HttpClient client(port);
      while (steady_clock::now() < end) {
        const unsigned status = client.Get("/a").result_int();
        if (status == 200) {
          // 503s can come first (a worker still connecting to Redis denies: on_error "deny").
          const steady_clock::rep now = steady_clock::now().time_since_epoch().count();
          for (steady_clock::rep seen = first_admitted.load();
               now < seen && !first_admitted.compare_exchange_weak(seen, now);) {
          }
        }
        (status == 200 ? admitted : status == 503 ? refused : other)++;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  const double seconds =
      std::chrono::duration<double>(
          steady_clock::now() -
          steady_clock::time_point(steady_clock::duration(first_admitted.load())))
          .count();
  const double expected = 50 + 50 * seconds;
  std::cout << "admitted " << admitted << " of " << (admitted + refused) << " in " << seconds
            << " s, expected " << expected << "\n";
  EXPECT_NEAR(static_cast<double>(admitted), expected, expected * 0.05)
      << "refused " << refused << ", other " << other;
  EXPECT_GT(refused, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(backend.request_count(), static_cast<size_t>(admitted));
}

TEST(ClusterRateLimitTest, RedisDownFailsClosedAtOnceAndResumesWhenBack) {
  const uint16_t redis_port = FreePort();
  auto redis = std::make_unique<RedisServer>(redis_port);
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), redis_port, "deny", "t2:"));
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  redis->Kill();
  for (int i = 0; i < 5; ++i) {
    const auto t0 = steady_clock::now();
    EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 503u);
    // At once: a dead Redis refuses the connection, nothing waits for the 1 s timeout.
    EXPECT_LT(steady_clock::now() - t0, milliseconds(900));
  }
  const std::string page = MetricsPage(gw);
  EXPECT_EQ(Sample(page, "sluice_ratelimit_redis_up"), 0) << page;
  EXPECT_EQ(Sample(page, "sluice_ratelimit_redis_fallbacks_total"), 5) << page;
  EXPECT_TRUE(gw.LogHas("is down or slow (>1s): requests are refused 503")) << gw.log();
  const std::string log = gw.log();
  size_t downs = 0;
  for (size_t p = log.find("is down or slow"); p != std::string::npos;
       p = log.find("is down or slow", p + 1)) {
    ++downs;
  }
  EXPECT_EQ(downs, 1u) << "logged once per change of state";

  redis = std::make_unique<RedisServer>(redis_port);
  bool resumed = false;
  const auto limit = steady_clock::now() + std::chrono::seconds(5);
  while (!resumed && steady_clock::now() < limit) {
    resumed = Fetch(gw.port(), "GET", "/a").result_int() == 200u;
    if (!resumed) std::this_thread::sleep_for(milliseconds(100));  // the retry is once a second
  }
  EXPECT_TRUE(resumed);
  EXPECT_EQ(Sample(MetricsPage(gw), "sluice_ratelimit_redis_up"), 1);
}

TEST(ClusterRateLimitTest, OnErrorAllowFailsOpen) {
  const ClosedPort no_redis;  // nothing listens there
  const uint16_t redis_port = no_redis.port();
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), redis_port, "allow", "t3:"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  EXPECT_TRUE(gw.LogHas("requests are ALLOWED (on_error: allow)")) << gw.log();
}

TEST(ClusterRateLimitTest, CheckNamesBadKeys) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(tmp ? tmp : "/tmp") + "/cluster.json";
  std::ofstream(file) << R"({"version": 3, "extra_config": {"sluice/cluster-ratelimit": {
      "address": "127.0.0.1", "on_error": "maybe", "timeout": "10s"}}, "endpoints": []})";
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("extra_config.sluice/cluster-ratelimit.address: expected \"host:port\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("on_error: expected \"deny\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("timeout: expected 1ms to 5s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
