// qos/circuit-breaker through the real binary and a real backend: it opens after max_errors,
// stops calling the backend (the backend's counter proves it), half-opens after timeout and
// closes on a success; its refusals are counted in Prometheus.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

TEST(CircuitBreakerTest, OpensStopsCallingHalfOpensAndClosesOnSuccess) {
  std::atomic<bool> healthy{false};
  TestBackend backend(
      [&](const Request&) { return TestBackend::Json(R"({"a":1})", healthy ? 200 : 500); });
  SluiceProcess gw(R"({"version": 3, "extra_config": {
      "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"}},
      "endpoints": [{"endpoint": "/a", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/a", "extra_config": {
        "qos/circuit-breaker": {"interval": 60, "timeout": 3, "max_errors": 2,
                                "name": "cb-a", "log_status_change": true}}}]}]})");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 500u);
  const auto opened = std::chrono::steady_clock::now();
  EXPECT_EQ(backend.request_count(), 3u);  // the third failure exceeds max_errors 2: open
  EXPECT_TRUE(gw.LogHas("circuit breaker named 'cb-a' went from 'closed' to 'open'")) << gw.log();

  healthy = true;
  Response refused = Fetch(gw.port(), "GET", "/a");
  EXPECT_EQ(refused.result_int(), 500u);  // fails fast, as KrakenD: 500, empty
  EXPECT_EQ(refused["X-Krakend-Completed"], "false");
  EXPECT_EQ(refused.body(), "");
  EXPECT_EQ(backend.request_count(), 3u);  // not called while open
  const std::string page = MetricsPage(gw);
  EXPECT_EQ(Sample(page, "sluice_backend_failures_total", {"kind=\"rejected\""}), 1) << page;
  EXPECT_EQ(Sample(page, "sluice_backend_circuit_breaker_state"), 2) << page;  // open

  // The checks above ran while it was open (timeout 3 s: room for a slow machine).
  ASSERT_LT(std::chrono::steady_clock::now() - opened, std::chrono::seconds(3));
  std::this_thread::sleep_until(opened + std::chrono::milliseconds(3100));  // half-open
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);  // the probe succeeds: closed
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
  EXPECT_EQ(backend.request_count(), 5u);
  EXPECT_TRUE(gw.LogHas("went from 'half-open' to 'closed'")) << gw.log();
  const std::string closed = MetricsPage(gw);
  EXPECT_EQ(Sample(closed, "sluice_backend_circuit_breaker_state"), 0) << closed;
}

// A reload that fails after building the new stacks (here: a new gRPC endpoint whose reflection
// cannot be fetched) leaves the live breaker's state in the metrics, not the fresh breaker's.
TEST(CircuitBreakerTest, AFailedReloadLeavesTheLiveBreakersStateInTheMetrics) {
  TestBackend backend([&](const Request&) { return TestBackend::Json(R"({"a":1})", 500); });
  const std::string endpoint_a = R"({"endpoint": "/a", "backend": [{"host": [")" + backend.url() +
                                 R"("], "url_pattern": "/a", "extra_config": {
        "qos/circuit-breaker": {"interval": 60, "timeout": 60, "max_errors": 0}}}]})";
  const std::string head = R"({"version": 3, "extra_config": {
      "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"}},
      "endpoints": [)";
  SluiceProcess gw(head + endpoint_a + "]}");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 500u);  // one failure: open
  auto state = [&] { return Sample(MetricsPage(gw), "sluice_backend_circuit_breaker_state"); };
  EXPECT_EQ(state(), 2);

  // Nothing listens on the gRPC backend's port.
  const ClosedPort closed;
  const uint16_t closed_port = closed.port();
  std::ofstream(gw.config_path() + ".tmp")
      << head + endpoint_a + R"(, {"endpoint": "/g", "backend": [{"host": ["127.0.0.1:)" +
             std::to_string(closed_port) + R"("], "url_pattern": "/shop.Shop/GetProduct",
        "extra_config": {"backend/grpc": {"descriptor_source": "reflection"}}}]}]})";
  ASSERT_EQ(std::rename((gw.config_path() + ".tmp").c_str(), gw.config_path().c_str()), 0);
  kill(gw.pid(), SIGHUP);
  ASSERT_TRUE(gw.LogHas("kept config")) << gw.log();
  EXPECT_EQ(state(), 2) << gw.log();
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 500u);  // still open: refused
  EXPECT_EQ(backend.request_count(), 1u);
}

// A reload that removes the breaker removes its state from the metrics: an open breaker that is
// gone must not go on showing as open.
TEST(CircuitBreakerTest, AReloadWithoutTheBreakerRemovesItsStateFromTheMetrics) {
  std::atomic<bool> healthy{false};
  TestBackend backend(
      [&](const Request&) { return TestBackend::Json(R"({"a":1})", healthy ? 200 : 500); });
  const std::string head = R"({"version": 3, "extra_config": {
      "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"}},
      "endpoints": [{"endpoint": "/a", "backend": [{"host": [")" +
                           backend.url() + R"("], "url_pattern": "/a")";
  SluiceProcess gw(head + R"(, "extra_config": {
      "qos/circuit-breaker": {"interval": 60, "timeout": 60, "max_errors": 0}}}]}]})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 500u);  // one failure: open
  auto state = [&] { return Sample(MetricsPage(gw), "sluice_backend_circuit_breaker_state"); };
  EXPECT_EQ(state(), 2);

  std::ofstream(gw.config_path() + ".tmp") << head + "}]}]}";
  ASSERT_EQ(std::rename((gw.config_path() + ".tmp").c_str(), gw.config_path().c_str()), 0);
  kill(gw.pid(), SIGHUP);
  ASSERT_TRUE(gw.LogHas("live (1 endpoints)")) << gw.log();
  healthy = true;
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);  // no breaker: called
  const std::string page = MetricsPage(gw);
  EXPECT_TRUE(std::isnan(Sample(page, "sluice_backend_circuit_breaker_state"))) << page;
  EXPECT_EQ(Sample(page, "sluice_backend_requests_total"), 2) << page;
}

}  // namespace
}  // namespace sluice::testing
