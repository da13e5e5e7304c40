#pragma once

// Prometheus text exposition (format 0.0.4) of the gateway's metrics: a pure function from a
// metrics snapshot to the page served at GET /metrics.

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "gateway/metrics/registry.h"
#include "gateway/runtime/instance_view.h"

namespace sluice::admin {

// The Content-Type of RenderPrometheus's output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

struct PrometheusInput {
  // sluice_build_info labels: the config name (so the named configuration is visible in
  // metrics), the Sluice version and git revision, and the config's SHA-256.
  std::string name;
  std::string version;
  std::string revision;
  std::string config_sha256;
  metrics::Snapshot metrics;
  runtime::ProcessStats process;
  bool draining = false;
  absl::Time started_at;
  runtime::ReloadHistory reloads;
};

// Every family once, HELP and TYPE first, samples contiguous; label values escaped; histograms
// cumulative with le="+Inf" equal to _count. Requests are labelled by the endpoint's method and
// path template (`route`), never by the raw path.
std::string RenderPrometheus(const PrometheusInput& in);

// Label value escaping: backslash, double quote and line feed.
std::string EscapeLabelValue(std::string_view value);

// A sample value: integers without a fraction, others in the shortest form that reads back
// exactly, "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

}  // namespace sluice::admin
