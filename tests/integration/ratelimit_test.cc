// qos/ratelimit/router through the real binary and a real backend: the endpoint-wide limit (503)
// and the per-client ones (429) by header, IP and {param}; the backend is never called for a
// refused request.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Config(const std::string& backend_url, const std::string& limit,
                   const std::string& path = "/a") {
  return R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"}},
      "endpoints": [{"endpoint": ")" +
         path + R"(", "extra_config": {"qos/ratelimit/router": )" + limit +
         R"(}, "backend": [{"host": [")" + backend_url + R"("], "url_pattern": "/a"}]}]})";
}

// The statuses of `n` requests sent one after another.
std::vector<unsigned> Statuses(uint16_t port, int n, const std::string& target = "/a",
                               const Headers& headers = {}) {
  std::vector<unsigned> out;
  HttpClient client(port);
  for (int i = 0; i < n; ++i) {
    Request req(boost::beast::http::verb::get, target, 11);
    for (const auto& [k, v] : headers) req.set(k, v);
    Response r = client.Send(std::move(req));
    out.push_back(r.result_int());
    if (r.result_int() != 200) {
      EXPECT_EQ(r.body(), "");  // KrakenD's refusals are empty
    }
  }
  return out;
}

int Count(const std::vector<unsigned>& statuses, unsigned status) {
  int n = 0;
  for (unsigned s : statuses) n += s == status;
  return n;
}

TEST(RateLimitTest, TheEndpointLimitAnswers503PastTheCapacityAndTheBackendIsNotCalled) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  // 1 per minute after a capacity of 5: the burst passes, the rest is refused.
  SluiceProcess gw(Config(backend.url(), R"({"max_rate": 1, "every": "1m", "capacity": 5})"));
  std::vector<unsigned> statuses = Statuses(gw.port(), 12);
  EXPECT_EQ(Count(statuses, 200), 5);
  EXPECT_EQ(Count(statuses, 503), 7);
  EXPECT_EQ(backend.request_count(), 5u);
}

TEST(RateLimitTest, ARateHoldsOverTimeAcrossConnectionsAndWorkers) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), R"({"max_rate": 50, "capacity": 1})"));
  std::atomic<int> ok{0}, refused{0}, other{0};
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(2);
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {  // four connections, spread over the workers by the kernel
    clients.emplace_back([&] {
      HttpClient client(gw.port());
      while (std::chrono::steady_clock::now() < end) {
        Response r = client.Get("/a");
        (r.result_int() == 200 ? ok : r.result_int() == 503 ? refused : other)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(refused.load(), ok.load());  // the clients asked for far more than the limit
  // 50 per second, plus the one token the bucket starts with.
  EXPECT_NEAR(ok.load(), 50 * seconds + 1, 0.05 * 50 * seconds + 2) << seconds << " s";
  EXPECT_EQ(backend.request_count(), static_cast<size_t>(ok.load()));
}

TEST(RateLimitTest, ClientLimitsByHeaderAreIndependentAndAnswer429) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), R"({"client_max_rate": 1, "every": "1m",
      "client_capacity": 2, "strategy": "header", "key": "X-User"})"));
  EXPECT_EQ(Statuses(gw.port(), 4, "/a", {{"X-User", "alice"}}),
            (std::vector<unsigned>{200, 200, 429, 429}));
  EXPECT_EQ(Statuses(gw.port(), 3, "/a", {{"X-User", "bob"}}),
            (std::vector<unsigned>{200, 200, 429}));
  EXPECT_EQ(Statuses(gw.port(), 1), (std::vector<unsigned>{429}));  // no identity: refused
  EXPECT_EQ(backend.request_count(), 4u);
}

TEST(RateLimitTest, ClientLimitsByIpUseTheTrustedHeaderOrTheConnection) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), R"({"client_max_rate": 1, "every": "1m",
      "client_capacity": 1, "strategy": "ip", "key": "X-Forwarded-For"})"));
  EXPECT_EQ(Statuses(gw.port(), 2, "/a", {{"X-Forwarded-For", "10.0.0.1, 192.168.1.1"}}),
            (std::vector<unsigned>{200, 429}));
  // The first address, without its port, is the client.
  EXPECT_EQ(Statuses(gw.port(), 1, "/a", {{"X-Forwarded-For", "10.0.0.1:5555"}}),
            (std::vector<unsigned>{429}));
  EXPECT_EQ(Statuses(gw.port(), 1, "/a", {{"X-Forwarded-For", "10.0.0.2"}}),
            (std::vector<unsigned>{200}));
  // Not an address: the connection's (127.0.0.1) is used, and shared with the requests without
  // the header.
  EXPECT_EQ(Statuses(gw.port(), 1, "/a", {{"X-Forwarded-For", "unknown"}}),
            (std::vector<unsigned>{200}));
  EXPECT_EQ(Statuses(gw.port(), 1), (std::vector<unsigned>{429}));
}

TEST(RateLimitTest, ClientLimitsByParamAndTheEndpointLimitTogether) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(Config(backend.url(), R"({"max_rate": 1, "every": "1m", "capacity": 3,
      "client_max_rate": 1, "client_capacity": 2, "strategy": "param", "key": "tenant"})",
                          "/t/{tenant}"));
  // The client bucket is checked first (429), then the endpoint's (503).
  EXPECT_EQ(Statuses(gw.port(), 3, "/t/one"), (std::vector<unsigned>{200, 200, 429}));
  // The third: two's own bucket is spent too (its second token went before the endpoint's
  // refusal, as in KrakenD).
  EXPECT_EQ(Statuses(gw.port(), 3, "/t/two"), (std::vector<unsigned>{200, 503, 429}));
  EXPECT_EQ(backend.request_count(), 3u);
}

TEST(RateLimitTest, TheProxyLimitCapsCallsToOneBackend) {
  TestBackend backend([](const Request& r) {
    return TestBackend::Json(r.target() == "/a" ? R"({"a":1})" : R"({"b":2})");
  });
  SluiceProcess gw(R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"}},
      "endpoints": [
        {"endpoint": "/one", "backend": [{"host": [")" +
                   backend.url() +
                   R"("], "url_pattern": "/a", "extra_config": {
          "qos/ratelimit/proxy": {"max_rate": 1, "every": "1m", "capacity": 2}}}]},
        {"endpoint": "/two", "backend": [
          {"host": [")" +
                   backend.url() + R"("], "url_pattern": "/a", "extra_config": {
            "qos/ratelimit/proxy": {"max_rate": 1, "every": "1m", "capacity": 1}}},
          {"host": [")" +
                   backend.url() + R"("], "url_pattern": "/b"}]}]})");
  // One backend: its calls over the limit are not made, and the endpoint answers 500.
  EXPECT_EQ(Statuses(gw.port(), 3, "/one"), (std::vector<unsigned>{200, 200, 500}));
  EXPECT_EQ(backend.request_count(), 2u);
  // A merging endpoint: the limited backend's part is missing, the answer partial.
  Response full = Fetch(gw.port(), "GET", "/two");
  EXPECT_EQ(full.body(), R"({"a":1,"b":2})");
  Response partial = Fetch(gw.port(), "GET", "/two");
  EXPECT_EQ(partial.result_int(), 200u);
  EXPECT_EQ(partial.body(), R"({"b":2})");
  EXPECT_EQ(partial["X-Krakend-Completed"], "false");
  EXPECT_EQ(backend.request_count(), 5u);
}

}  // namespace
}  // namespace sluice::testing
