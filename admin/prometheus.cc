#include "admin/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/backend/error.h"

namespace sluice::admin {
namespace {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

const char* const kStatusClassNames[metrics::kStatusClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// HELP text escaping: backslash and line feed (quotes stay as they are).
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Page {
 public:
  // Starts a metric family: its HELP and TYPE lines. Call once per family, before its samples.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    absl::StrAppend(&out_, "# HELP ", View(name), " ", EscapeHelp(help), "\n# TYPE ", View(name),
                    " ", View(type), "\n");
  }

  void Sample(std::string_view name, const Labels& labels, std::string_view value) {
    absl::StrAppend(&out_, View(name));
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        absl::StrAppend(&out_, i == 0 ? "" : ",", View(labels[i].first), "=\"",
                        EscapeLabelValue(labels[i].second), "\"");
      }
      out_ += '}';
    }
    absl::StrAppend(&out_, " ", View(value), "\n");
  }
  void Sample(std::string_view name, const Labels& labels, uint64_t value) {
    Sample(name, labels, std::to_string(value));
  }
  void Sample(std::string_view name, const Labels& labels, int64_t value) {
    Sample(name, labels, std::to_string(value));
  }

  // A histogram's samples: cumulative buckets ending with le="+Inf", then _sum and _count. The
  // count is the bucket total, so +Inf and _count agree even while workers keep counting.
  void Histogram(const std::string& name, const Labels& labels,
                 const metrics::HistogramSnapshot& h) {
    Labels with_le = labels;
    with_le.emplace_back("le", "");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      with_le.back().second =
          i < metrics::kLatencyBuckets.size() ? FormatValue(metrics::kLatencyBuckets[i]) : "+Inf";
      Sample(name + "_bucket", with_le, cumulative);
    }
    Sample(name + "_sum", labels, FormatValue(h.sum_seconds));
    Sample(name + "_count", labels, cumulative);
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

Labels EndpointLabels(const metrics::EndpointSnapshot& e) {
  return {{"method", e.method}, {"route", e.path}};
}

// The `backend` label: the first host as written plus the url_pattern, e.g.
// "http://users:8080/users/{id}". Two backends of one endpoint with the same host and pattern
// get "#2", "#3"... so every series stays unique.
std::vector<Labels> BackendLabels(const std::vector<metrics::BackendSnapshot>& backends) {
  std::vector<Labels> out;
  std::map<std::string, int> seen;  // "method route backend" -> occurrences
  for (const metrics::BackendSnapshot& b : backends) {
    std::string name = absl::StrCat(b.hosts.empty() ? "" : b.hosts.front(), b.url_pattern);
    int n = ++seen[absl::StrCat(b.endpoint_method, " ", b.endpoint_path, " ", name)];
    if (n > 1) absl::StrAppend(&name, "#", n);
    out.push_back({{"method", b.endpoint_method}, {"route", b.endpoint_path}, {"backend", name}});
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integral values below 2^53 are exact in a double: print them as integers.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    return std::to_string(static_cast<int64_t>(value));
  }
  // Shortest digits that read back exactly; plain decimals in the range people read (as
  // JavaScript prints numbers), exponents outside it.
  const double magnitude = std::fabs(value);
  const std::chars_format format = magnitude >= 1e-6 && magnitude < 1e21
                                       ? std::chars_format::fixed
                                       : std::chars_format::scientific;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, format);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string RenderPrometheus(const PrometheusInput& in) {
  Page page;
  page.Family("sluice_build_info", "gauge",
              "Always 1; labels name the configuration and build serving here.");
  page.Sample("sluice_build_info",
              {{"name", in.name},
               {"version", in.version},
               {"revision", in.revision},
               {"config_sha256", in.config_sha256}},
              uint64_t{1});

  page.Family("sluice_config_reloads_total", "counter",
              "Configuration reloads (SIGHUP, admin Reload, file watch) by result: ok (live), "
              "unchanged (same sha256), failed (the previous configuration kept serving).");
  page.Sample("sluice_config_reloads_total", {{"result", "ok"}}, in.reloads.ok);
  page.Sample("sluice_config_reloads_total", {{"result", "unchanged"}}, in.reloads.unchanged);
  page.Sample("sluice_config_reloads_total", {{"result", "failed"}}, in.reloads.failed);
  page.Family("sluice_config_last_reload_successful", "gauge",
              "0 when the latest reload failed (the file on disk is not what serves), else 1.");
  page.Sample("sluice_config_last_reload_successful", {},
              uint64_t{in.reloads.recent.empty() || in.reloads.recent.front().result != "failed"});
  if (in.reloads.ok > 0) {
    page.Family("sluice_config_last_reload_success_timestamp_seconds", "gauge",
                "When the live configuration was made live by a reload (Unix seconds).");
    page.Sample("sluice_config_last_reload_success_timestamp_seconds", {},
                FormatValue(absl::ToDoubleSeconds(in.reloads.last_success - absl::UnixEpoch())));
  }

  if (in.metrics.redis_up != -2) {
    page.Family("sluice_ratelimit_redis_up", "gauge",
                "sluice/cluster-ratelimit: 1 when Redis answered the last decision, 0 when it "
                "failed or was too slow, -1 before the first.");
    page.Sample("sluice_ratelimit_redis_up", {}, static_cast<int64_t>(in.metrics.redis_up));
    page.Family("sluice_ratelimit_redis_fallbacks_total", "counter",
                "Rate-limit decisions made by on_error because Redis did not decide in time.");
    page.Sample("sluice_ratelimit_redis_fallbacks_total", {}, in.metrics.redis_fallbacks);
  }

  const std::vector<metrics::EndpointSnapshot>& endpoints = in.metrics.endpoints;
  page.Family("sluice_http_requests_total", "counter",
              "Requests answered, by endpoint (method and path template) and status class.");
  for (const metrics::EndpointSnapshot& e : endpoints) {
    for (int c = 0; c < metrics::kStatusClasses; ++c) {
      Labels labels = EndpointLabels(e);
      labels.emplace_back("code_class", kStatusClassNames[c]);
      page.Sample("sluice_http_requests_total", labels, e.requests_by_class[c]);
    }
  }
  page.Family("sluice_http_request_duration_seconds", "histogram",
              "Time from the request read to the response handed to the connection.");
  for (const metrics::EndpointSnapshot& e : endpoints) {
    page.Histogram("sluice_http_request_duration_seconds", EndpointLabels(e), e.latency);
  }
  page.Family("sluice_http_requests_in_flight", "gauge", "Requests being processed now.");
  for (const metrics::EndpointSnapshot& e : endpoints) {
    page.Sample("sluice_http_requests_in_flight", EndpointLabels(e), e.in_flight);
  }
  page.Family("sluice_http_response_bytes_total", "counter", "Response body bytes sent.");
  for (const metrics::EndpointSnapshot& e : endpoints) {
    page.Sample("sluice_http_response_bytes_total", EndpointLabels(e), e.bytes_out);
  }

  const std::vector<metrics::BackendSnapshot>& backends = in.metrics.backends;
  std::vector<Labels> backend_labels = BackendLabels(backends);
  page.Family("sluice_backend_requests_total", "counter", "Backend calls made, successful or not.");
  for (size_t i = 0; i < backends.size(); ++i) {
    page.Sample("sluice_backend_requests_total", backend_labels[i], backends[i].calls);
  }
  page.Family("sluice_backend_failures_total", "counter",
              "Failed backend calls by kind (timeout, connect, status, decode, reset, "
              "bad_response, request, rejected).");
  for (size_t i = 0; i < backends.size(); ++i) {
    // Index 0 is ErrorKind::kNone: not a failure.
    for (int k = 1; k < metrics::kFailureKinds; ++k) {
      Labels labels = backend_labels[i];
      labels.emplace_back("kind",
                          std::string(backend::ToString(static_cast<backend::ErrorKind>(k))));
      page.Sample("sluice_backend_failures_total", labels, backends[i].failures[k]);
    }
  }
  page.Family("sluice_backend_circuit_breaker_state", "gauge",
              "State of the backend's circuit breaker (qos/circuit-breaker): 0 closed, "
              "1 half-open, 2 open. Updated at each change; backends without one are not listed.");
  for (size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].breaker_state == metrics::kNoBreaker) continue;
    page.Sample("sluice_backend_circuit_breaker_state", backend_labels[i],
                static_cast<int64_t>(backends[i].breaker_state));
  }
  page.Family(
      "sluice_backend_http_cache_total", "counter",
      "Calls of backends with qos/http-cache by result: hit (a fresh cached answer), "
      "revalidated (the backend answered 304 to a stale one), miss (the backend's answer).");
  for (size_t i = 0; i < backends.size(); ++i) {
    if (!backends[i].has_cache) continue;
    const std::pair<const char*, uint64_t> results[] = {
        {"hit", backends[i].cache_hits},
        {"revalidated", backends[i].cache_revalidated},
        {"miss", backends[i].cache_misses}};
    for (const auto& [result, n] : results) {
      Labels labels = backend_labels[i];
      labels.emplace_back("result", result);
      page.Sample("sluice_backend_http_cache_total", labels, n);
    }
  }
  page.Family("sluice_backend_request_duration_seconds", "histogram",
              "Time from sending a backend request to its decoded response.");
  for (size_t i = 0; i < backends.size(); ++i) {
    page.Histogram("sluice_backend_request_duration_seconds", backend_labels[i],
                   backends[i].latency);
  }

  page.Family("sluice_open_connections", "gauge", "Public connections open now.");
  page.Sample("sluice_open_connections", {}, in.process.open_connections);
  page.Family(
      "sluice_worker_connections", "gauge",
      "Public connections open now, by worker (new ones go to the worker with the fewest).");
  for (size_t i = 0; i < in.process.worker_connections.size(); ++i) {
    page.Sample("sluice_worker_connections", {{"worker", std::to_string(i)}},
                in.process.worker_connections[i]);
  }
  page.Family("sluice_connections_total", "counter", "Public connections accepted.");
  page.Sample("sluice_connections_total", {}, in.process.total_connections);
  page.Family("sluice_buffered_request_bytes", "gauge",
              "Request body bytes held now, of sluice/http max_buffered_request_bytes.");
  page.Sample("sluice_buffered_request_bytes", {}, in.process.buffered_request_bytes);
  page.Family("sluice_process_resident_memory_bytes", "gauge", "Resident set size.");
  page.Sample("sluice_process_resident_memory_bytes", {}, in.process.rss_bytes);
  page.Family("sluice_draining", "gauge",
              "1 while draining (/__health answers 503), 0 while serving.");
  page.Sample("sluice_draining", {}, uint64_t{in.draining ? 1u : 0u});
  page.Family("process_start_time_seconds", "gauge",
              "Start time of the process since the Unix epoch, in seconds.");
  page.Sample("process_start_time_seconds", {},
              // One correctly rounded division (ToDoubleSeconds adds two rounded parts).
              FormatValue(static_cast<double>(absl::ToUnixMicros(in.started_at)) / 1e6));
  return page.Take();
}

}  // namespace sluice::admin
