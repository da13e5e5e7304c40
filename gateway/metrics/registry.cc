#include "gateway/metrics/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

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

namespace {

// Slots are never freed (a removed endpoint keeps its counters in case it comes back), so a
// process that has seen this many distinct ones refuses more.
absl::Status Exhausted(const char* what) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "more distinct ", what, " than the metrics registry holds in one process's life (",
      Registry::kChunk * Registry::kMaxChunks, "); restart the process to start counting afresh"));
}

}  // namespace

Registry::Registry(int workers) {
  for (int w = 0; w < workers; ++w) workers_.push_back(std::make_unique<PerWorker>());
}

Registry::Registry(int workers, const config::ServiceConfig& config) : Registry(workers) {
  Activate(Register(config).value());
}

bool Registry::Grow(int id, bool backend) {
  if (id >= kChunk * kMaxChunks) return false;
  for (auto& pw : workers_) {
    if (backend) {
      pw->backends.Make(id);
    } else {
      pw->endpoints.Make(id);
    }
  }
  return true;
}

template <class Label, class MakeLabel>
int Registry::SlotOf(std::map<std::string, int>& index, std::vector<Label>& labels, std::string key,
                     bool backend, const MakeLabel& make_label) {
  auto [it, added] = index.emplace(std::move(key), static_cast<int>(labels.size()));
  if (!added) return it->second;
  if (!Grow(it->second, backend)) {
    index.erase(it);
    return -1;
  }
  labels.push_back(make_label());
  return it->second;
}

absl::StatusOr<Slots> Registry::Register(const config::ServiceConfig& config) {
  Slots slots;
  absl::MutexLock lock(&mu_);
  built_.clear();
  for (const auto& e : config.endpoints) {
    const std::string endpoint_key = e.method + " " + e.path;
    const int endpoint = SlotOf(endpoint_slots_, endpoint_labels_, endpoint_key, false, [&] {
      EndpointSnapshot label;
      label.method = e.method;
      label.path = e.path;
      return label;
    });
    if (endpoint < 0) return Exhausted("endpoints");
    slots.endpoints.push_back(endpoint);
    for (size_t i = 0; i < e.backends.size(); ++i) {
      const config::Backend& b = e.backends[i];
      std::string key = endpoint_key + "\n" + std::to_string(i) + " " + b.url_pattern;
      for (const auto& h : b.hosts) key.append(" ").append(h.original);
      const int backend = SlotOf(backend_slots_, backend_labels_, std::move(key), true, [&] {
        BackendSnapshot label;
        label.endpoint_method = e.method;
        label.endpoint_path = e.path;
        label.url_pattern = b.url_pattern;
        for (const auto& h : b.hosts) label.hosts.push_back(h.original);
        return label;
      });
      if (backend < 0) return Exhausted("backends");
      slots.backends.push_back(backend);
    }
  }
  return slots;
}

void Registry::Activate(const Slots& slots) {
  absl::MutexLock lock(&mu_);
  live_ = slots;
  attached_ = std::move(built_);
  built_.clear();
}

void Registry::mark_cached(int id) {
  absl::MutexLock lock(&mu_);
  built_[id].cache = true;
}

void Registry::set_breaker(int id, std::shared_ptr<const std::atomic<int>> state) {
  absl::MutexLock lock(&mu_);
  built_[id].breaker = std::move(state);
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
  absl::MutexLock lock(&mu_);
  for (int id : live_.endpoints) s.endpoints.push_back(endpoint_labels_[id]);
  for (int id : live_.backends) s.backends.push_back(backend_labels_[id]);
  s.redis_up = redis_up_.load(std::memory_order_relaxed);
  s.redis_fallbacks = redis_fallbacks_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < s.backends.size(); ++i) {
    const int id = live_.backends[i];
    const auto attached = attached_.find(id);
    if (attached == attached_.end()) continue;
    s.backends[i].has_cache = attached->second.cache;
    if (attached->second.breaker != nullptr) {
      s.backends[i].breaker_state = attached->second.breaker->load(std::memory_order_relaxed);
    }
  }
  for (const auto& pw : workers_) {
    for (size_t i = 0; i < s.endpoints.size(); ++i) {
      const int id = live_.endpoints[i];
      const EndpointStats& e = pw->endpoints[id];
      EndpointSnapshot& out = s.endpoints[i];
      for (int c = 0; c < kStatusClasses; ++c) out.requests_by_class[c] += e.requests[c].Get();
      out.in_flight += e.in_flight.Get();
      out.bytes_out += e.bytes_out.Get();
      Accumulate(e.latency, &out.latency);
    }
    for (size_t i = 0; i < s.backends.size(); ++i) {
      const int id = live_.backends[i];
      BackendStats& b = pw->backends[id];
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
