#include "gateway/metrics/registry.h"

#include <algorithm>

namespace sluice::metrics {

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  buckets[i].Add();
  sum_micros.Add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e6));
}

double HistogramSnapshot::Quantile(double q) const {
  if (count == 0) return 0;
  const double rank = q * static_cast<double>(count);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0) continue;
    if (static_cast<double>(seen + buckets[i]) >= rank) {
      const double lower = i == 0 ? 0 : kLatencyBuckets[i - 1];
      // Past the last bound there is no upper edge: report the last bound.
      if (i == kLatencyBuckets.size()) return kLatencyBuckets.back();
      const double upper = kLatencyBuckets[i];
      const double within = (rank - static_cast<double>(seen)) / static_cast<double>(buckets[i]);
      return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
    }
    seen += buckets[i];
  }
  return kLatencyBuckets.back();
}

Registry::Registry(int workers, const config::ServiceConfig& config) {
  for (const auto& e : config.endpoints) {
    EndpointSnapshot label;
    label.method = e.method;
    label.path = e.path;
    endpoint_labels_.push_back(label);
    for (const auto& b : e.backends) {
      BackendSnapshot bl;
      bl.endpoint_method = e.method;
      bl.endpoint_path = e.path;
      bl.url_pattern = b.url_pattern;
      for (const auto& h : b.hosts) bl.hosts.push_back(h.original);
      backend_labels_.push_back(bl);
    }
  }
  breaker_states_ = std::make_unique<std::atomic<int>[]>(backend_labels_.size());
  for (size_t i = 0; i < backend_labels_.size(); ++i) breaker_states_[i] = kNoBreaker;
  for (int w = 0; w < workers; ++w) {
    auto pw = std::make_unique<PerWorker>();
    pw->endpoints = std::make_unique<EndpointStats[]>(endpoint_labels_.size());
    pw->backends = std::make_unique<BackendStats[]>(backend_labels_.size());
    workers_.push_back(std::move(pw));
  }
}

namespace {

void Accumulate(const Histogram& h, HistogramSnapshot* out) {
  for (size_t i = 0; i < h.buckets.size(); ++i) {
    const uint64_t n = h.buckets[i].Get();
    out->buckets[i] += n;
    out->count += n;
  }
  out->sum_seconds += static_cast<double>(h.sum_micros.Get()) / 1e6;
}

}  // namespace

Snapshot Registry::Read() const {
  Snapshot s;
  s.endpoints = endpoint_labels_;
  s.backends = backend_labels_;
  s.redis_up = redis_up_.load(std::memory_order_relaxed);
  s.redis_fallbacks = redis_fallbacks_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < s.backends.size(); ++i) {
    s.backends[i].breaker_state = breaker_states_[i].load(std::memory_order_relaxed);
  }
  for (const auto& pw : workers_) {
    for (size_t i = 0; i < s.endpoints.size(); ++i) {
      const EndpointStats& e = pw->endpoints[i];
      EndpointSnapshot& out = s.endpoints[i];
      for (int c = 0; c < kStatusClasses; ++c) out.requests_by_class[c] += e.requests[c].Get();
      out.in_flight += e.in_flight.Get();
      out.bytes_out += e.bytes_out.Get();
      Accumulate(e.latency, &out.latency);
    }
    for (size_t i = 0; i < s.backends.size(); ++i) {
      BackendStats& b = pw->backends[i];
      BackendSnapshot& out = s.backends[i];
      out.calls += b.calls.Get();
      out.cache_hits += b.cache_hits.Get();
      out.cache_revalidated += b.cache_revalidated.Get();
      out.cache_misses += b.cache_misses.Get();
      for (int k = 0; k < kFailureKinds; ++k) out.failures[k] += b.failures[k].Get();
      Accumulate(b.latency, &out.latency);
      const int64_t ok_ms = b.last_success_unix_ms.load(std::memory_order_relaxed);
      const int64_t fail_ms = b.last_failure_unix_ms.load(std::memory_order_relaxed);
      out.last_success_unix_ms = std::max(out.last_success_unix_ms, ok_ms);
      if (fail_ms > out.last_failure_unix_ms) {
        out.last_failure_unix_ms = fail_ms;
        absl::MutexLock lock(&b.mu);
        out.last_error = b.last_error;
      }
    }
  }
  return s;
}

}  // namespace sluice::metrics
