#include "admin/prometheus.h"

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Bucket index of a latency in seconds (kLatencyBuckets: 0.0005, 0.001, 0.0025, 0.005, 0.01, ...).
constexpr size_t k1ms = 1;
constexpr size_t k10ms = 4;
constexpr size_t kInf = metrics::kLatencyBuckets.size();

metrics::HistogramSnapshot Hist(std::map<size_t, uint64_t> counts, double sum) {
  metrics::HistogramSnapshot h;
  for (auto [i, n] : counts) {
    h.buckets[i] = n;
    h.count += n;
  }
  h.sum_seconds = sum;
  return h;
}

PrometheusInput Input() {
  PrometheusInput in;
  in.name = "Production \"blue\" rev-db6a182\\x\ny";
  in.version = "0.1.0";
  in.revision = "abc1234";
  in.config_sha256 = "00ff";
  metrics::EndpointSnapshot users;
  users.method = "GET";
  users.path = "/users/{id}";
  users.requests_by_class = {0, 7, 0, 2, 1};
  users.in_flight = 3;
  users.latency = Hist({{k1ms, 4}, {k10ms, 5}, {kInf, 1}}, 12.5);
  users.bytes_out = 4096;
  metrics::EndpointSnapshot orders;
  orders.method = "POST";
  orders.path = "/orders";
  in.metrics.endpoints = {users, orders};
  metrics::BackendSnapshot b0;
  b0.endpoint_method = "GET";
  b0.endpoint_path = "/users/{id}";
  b0.url_pattern = "/u/{id}";
  b0.hosts = {"http://users:8080", "http://users2:8080"};
  b0.calls = 10;
  b0.failures = {0, 1, 2, 0, 3, 0, 0};  // connect 1, timeout 2, status 3
  b0.latency = Hist({{k1ms, 10}}, 0.008);
  metrics::BackendSnapshot b1 = b0;  // same host and pattern in the same endpoint
  b1.calls = 5;
  b1.failures = {};
  b1.latency = {};
  in.metrics.backends = {b0, b1};
  in.process.open_connections = 2;
  in.process.worker_connections = {2, 0};
  in.process.total_connections = 17;
  in.process.buffered_request_bytes = 65536;
  in.process.rss_bytes = 123456789;
  in.draining = true;
  in.started_at = absl::FromUnixMillis(1700000000250);
  return in;
}

std::vector<std::string> Lines(const std::string& page) {
  std::vector<std::string> lines = absl::StrSplit(page, '\n');
  return lines;
}

bool HasLine(const std::string& page, const std::string& line) {
  for (const std::string& l : Lines(page)) {
    if (l == line) return true;
  }
  return false;
}

TEST(PrometheusTest, BuildInfoCarriesTheConfigNameEscaped) {
  std::string page = RenderPrometheus(Input());
  EXPECT_TRUE(HasLine(page, R"(sluice_build_info{name="Production \"blue\" rev-db6a182\\x\ny",)"
                            R"(version="0.1.0",revision="abc1234",config_sha256="00ff"} 1)"))
      << page;
}

TEST(PrometheusTest, EveryFamilyHasHelpAndTypeOnceBeforeContiguousSamples) {
  std::string page = RenderPrometheus(Input());
  ASSERT_FALSE(page.empty());
  EXPECT_EQ(page.back(), '\n');
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helped;
  std::set<std::string> finished;  // families whose samples are over
  std::string current;
  for (const std::string& line : Lines(page)) {
    if (line.empty()) continue;
    if (absl::StartsWith(line, "# HELP ")) {
      std::string name = std::vector<std::string>(absl::StrSplit(line, ' '))[2];
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
      continue;
    }
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      ASSERT_EQ(parts.size(), 4u) << line;
      EXPECT_TRUE(types.emplace(parts[2], parts[3]).second) << "TYPE twice: " << parts[2];
      EXPECT_TRUE(helped.count(parts[2])) << "TYPE before HELP: " << parts[2];
      if (!current.empty()) finished.insert(current);
      current = parts[2];
      continue;
    }
    ASSERT_NE(line[0], '#') << line;
    std::string name = line.substr(0, line.find_first_of("{ "));
    std::string family = name;
    if (types[current] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (absl::EndsWith(name, suffix)) family = name.substr(0, name.size() - strlen(suffix));
      }
    }
    EXPECT_EQ(family, current) << "sample outside its family: " << line;
    EXPECT_FALSE(finished.count(family)) << line;
  }
  for (const char* f :
       {"sluice_build_info", "sluice_http_requests_total", "sluice_http_request_duration_seconds",
        "sluice_http_requests_in_flight", "sluice_http_response_bytes_total",
        "sluice_backend_requests_total", "sluice_backend_failures_total",
        "sluice_backend_request_duration_seconds", "sluice_open_connections",
        "sluice_worker_connections", "sluice_connections_total", "sluice_buffered_request_bytes",
        "sluice_process_resident_memory_bytes", "sluice_draining", "process_start_time_seconds"}) {
    EXPECT_TRUE(types.count(f)) << f;
  }
  EXPECT_EQ(types["sluice_http_requests_total"], "counter");
  EXPECT_EQ(types["sluice_http_request_duration_seconds"], "histogram");
  EXPECT_EQ(types["sluice_http_requests_in_flight"], "gauge");
  EXPECT_EQ(types["sluice_backend_failures_total"], "counter");
}

TEST(PrometheusTest, EverySeriesIsUnique) {
  std::set<std::string> series;
  for (const std::string& line : Lines(RenderPrometheus(Input()))) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << line;
  }
}

TEST(PrometheusTest, RequestsByRouteTemplateMethodAndClass) {
  std::string page = RenderPrometheus(Input());
  const char* base = R"(sluice_http_requests_total{method="GET",route="/users/{id}",code_class=)";
  EXPECT_TRUE(HasLine(page, std::string(base) + R"("1xx"} 0)")) << page;
  EXPECT_TRUE(HasLine(page, std::string(base) + R"("2xx"} 7)")) << page;
  EXPECT_TRUE(HasLine(page, std::string(base) + R"("4xx"} 2)")) << page;
  EXPECT_TRUE(HasLine(page, std::string(base) + R"("5xx"} 1)")) << page;
  EXPECT_TRUE(HasLine(
      page, R"(sluice_http_requests_total{method="POST",route="/orders",code_class="2xx"} 0)"));
  EXPECT_TRUE(
      HasLine(page, R"(sluice_http_requests_in_flight{method="GET",route="/users/{id}"} 3)"));
  EXPECT_TRUE(
      HasLine(page, R"(sluice_http_response_bytes_total{method="GET",route="/users/{id}"} 4096)"));
}

TEST(PrometheusTest, HistogramIsCumulativeWithInfEqualToCount) {
  std::string page = RenderPrometheus(Input());
  const std::string p =
      R"(sluice_http_request_duration_seconds_bucket{method="GET",route="/users/{id}",le=)";
  EXPECT_TRUE(HasLine(page, p + R"("0.0005"} 0)")) << page;
  EXPECT_TRUE(HasLine(page, p + R"("0.001"} 4)")) << page;
  EXPECT_TRUE(HasLine(page, p + R"("0.0025"} 4)")) << page;
  EXPECT_TRUE(HasLine(page, p + R"("0.01"} 9)")) << page;
  EXPECT_TRUE(HasLine(page, p + R"("10"} 9)")) << page;
  EXPECT_TRUE(HasLine(page, p + R"("+Inf"} 10)")) << page;
  EXPECT_TRUE(HasLine(
      page, R"(sluice_http_request_duration_seconds_sum{method="GET",route="/users/{id}"} 12.5)"));
  EXPECT_TRUE(HasLine(
      page, R"(sluice_http_request_duration_seconds_count{method="GET",route="/users/{id}"} 10)"));
  // One bucket line per bound plus +Inf, per endpoint.
  size_t buckets = 0;
  for (const std::string& l : Lines(page)) {
    if (absl::StartsWith(l, "sluice_http_request_duration_seconds_bucket{")) ++buckets;
  }
  EXPECT_EQ(buckets, 2 * (metrics::kLatencyBuckets.size() + 1));
}

TEST(PrometheusTest, BackendSeriesWithFailureKindsAndUniqueNames) {
  std::string page = RenderPrometheus(Input());
  const std::string b0 = R"(method="GET",route="/users/{id}",backend="http://users:8080/u/{id}")";
  const std::string b1 = R"(method="GET",route="/users/{id}",backend="http://users:8080/u/{id}#2")";
  EXPECT_TRUE(HasLine(page, "sluice_backend_requests_total{" + b0 + "} 10")) << page;
  EXPECT_TRUE(HasLine(page, "sluice_backend_requests_total{" + b1 + "} 5")) << page;
  EXPECT_TRUE(HasLine(page, "sluice_backend_failures_total{" + b0 + R"(,kind="connect"} 1)"));
  EXPECT_TRUE(HasLine(page, "sluice_backend_failures_total{" + b0 + R"(,kind="timeout"} 2)"));
  EXPECT_TRUE(HasLine(page, "sluice_backend_failures_total{" + b0 + R"(,kind="status"} 3)"));
  for (const char* kind : {"reset", "decode", "bad_response"}) {
    EXPECT_TRUE(HasLine(page, "sluice_backend_failures_total{" + b0 + ",kind=\"" + kind + "\"} 0"))
        << kind;
  }
  EXPECT_THAT(page, Not(HasSubstr("kind=\"none\"")));
  EXPECT_TRUE(HasLine(page, "sluice_backend_request_duration_seconds_count{" + b0 + "} 10"));
  EXPECT_TRUE(HasLine(page, "sluice_backend_request_duration_seconds_sum{" + b0 + "} 0.008"));
  EXPECT_TRUE(
      HasLine(page, "sluice_backend_request_duration_seconds_bucket{" + b1 + R"(,le="+Inf"} 0)"));
}

TEST(PrometheusTest, ProcessGauges) {
  std::string page = RenderPrometheus(Input());
  EXPECT_TRUE(HasLine(page, "sluice_open_connections 2"));
  EXPECT_TRUE(HasLine(page, R"(sluice_worker_connections{worker="0"} 2)"));
  EXPECT_TRUE(HasLine(page, R"(sluice_worker_connections{worker="1"} 0)"));
  EXPECT_TRUE(HasLine(page, "sluice_connections_total 17"));
  EXPECT_TRUE(HasLine(page, "sluice_buffered_request_bytes 65536"));
  EXPECT_TRUE(HasLine(page, "sluice_process_resident_memory_bytes 123456789"));
  EXPECT_TRUE(HasLine(page, "sluice_draining 1"));
  EXPECT_TRUE(HasLine(page, "process_start_time_seconds 1700000000.25")) << page;
  PrometheusInput serving = Input();
  serving.draining = false;
  EXPECT_TRUE(HasLine(RenderPrometheus(serving), "sluice_draining 0"));
}

TEST(PrometheusTest, EmptySnapshotStillListsTheFamilies) {
  PrometheusInput in;
  std::string page = RenderPrometheus(in);
  EXPECT_THAT(page, HasSubstr("# TYPE sluice_http_requests_total counter\n"));
  EXPECT_TRUE(
      HasLine(page, R"(sluice_build_info{name="",version="",revision="",config_sha256=""} 1)"));
}

TEST(PrometheusTest, LabelEscaping) {
  EXPECT_EQ(EscapeLabelValue("plain /a/{b}"), "plain /a/{b}");
  EXPECT_EQ(EscapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("a\nb"), "a\\nb");
  EXPECT_EQ(EscapeLabelValue("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");  // UTF-8 passes through
}

TEST(PrometheusTest, ValueFormatting) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(10), "10");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");  // reads back exactly
  EXPECT_EQ(FormatValue(1700000000.25), "1700000000.25");
  EXPECT_EQ(FormatValue(0.000001), "0.000001");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

}  // namespace
}  // namespace sluice::admin
