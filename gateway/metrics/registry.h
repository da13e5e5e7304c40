#pragma once

// Request metrics without locks on the hot path: every worker thread owns its own block of
// counters (single writer, relaxed atomics without a read-modify-write), and readers (the admin
// service, /metrics) sum the blocks when they ask. Nothing is shared between workers.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/config/config.h"

namespace sluice::metrics {

// Upper bounds, in seconds, of the latency histogram buckets (+Inf is implicit). Sub-millisecond
// resolution at the low end: a gateway hop on loopback takes well under 1 ms.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A counter written by exactly one thread and read by any: load+store, no locked instruction.
class Counter {
 public:
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Single-writer gauge (may go down).
class Gauge {
 public:
  void Add(int64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  int64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

class Histogram {
 public:
  void Observe(double seconds);
  // Non-cumulative bucket counts: index i counts values <= kLatencyBuckets[i] and above the
  // previous bound; the last index is +Inf.
  std::array<Counter, kLatencyBuckets.size() + 1> buckets;
  Counter sum_micros;
};

// Status classes 1xx..5xx at indexes 0..4.
inline constexpr int kStatusClasses = 5;

struct alignas(64) EndpointStats {
  std::array<Counter, kStatusClasses> requests;
  Gauge in_flight;
  Histogram latency;
  Counter bytes_out;
};

// Failure kinds, indexed by backend::ErrorKind's value (kNone unused).
inline constexpr int kFailureKinds = 9;

struct alignas(64) BackendStats {
  Counter calls;
  std::array<Counter, kFailureKinds> failures;
  Histogram latency;
  std::atomic<int64_t> last_success_unix_ms{0};
  std::atomic<int64_t> last_failure_unix_ms{0};
  // qos/http-cache: answers served from the cache (fresh, or revalidated by a 304) and calls
  // that went to the backend.
  Counter cache_hits;
  Counter cache_revalidated;
  Counter cache_misses;
  // Written only on the failure path (not per successful request), read by the admin service.
  absl::Mutex mu;
  std::string last_error ABSL_GUARDED_BY(mu);
};

struct HistogramSnapshot {
  std::array<uint64_t, kLatencyBuckets.size() + 1> buckets{};  // non-cumulative
  uint64_t count = 0;
  double sum_seconds = 0;
  // Estimated quantile (0..1) by linear interpolation inside the bucket; 0 when empty.
  double Quantile(double q) const;
};

struct EndpointSnapshot {
  std::string method;
  std::string path;  // the template, never a raw path
  std::array<uint64_t, kStatusClasses> requests_by_class{};
  int64_t in_flight = 0;
  HistogramSnapshot latency;
  uint64_t bytes_out = 0;
};

struct BackendSnapshot {
  std::string endpoint_method;
  std::string endpoint_path;
  std::string url_pattern;
  std::vector<std::string> hosts;  // as written in the config
  uint64_t calls = 0;
  std::array<uint64_t, kFailureKinds> failures{};  // by backend::ErrorKind value
  HistogramSnapshot latency;
  int64_t last_success_unix_ms = 0;  // 0: never
  int64_t last_failure_unix_ms = 0;  // 0: never
  std::string last_error;
  // The circuit breaker's state (kBreakerClosed...), or kNoBreaker.
  int breaker_state = -1;
  bool has_cache = false;  // qos/http-cache configured: the cache_* counts mean something
  uint64_t cache_hits = 0;
  uint64_t cache_revalidated = 0;
  uint64_t cache_misses = 0;
};

// Values of BackendSnapshot::breaker_state and of Registry::breaker_state().
inline constexpr int kNoBreaker = -1;
inline constexpr int kBreakerClosed = 0;
inline constexpr int kBreakerHalfOpen = 1;
inline constexpr int kBreakerOpen = 2;

struct Snapshot {
  std::vector<EndpointSnapshot> endpoints;  // config order
  std::vector<BackendSnapshot> backends;    // config order, endpoint by endpoint
  // sluice/cluster-ratelimit: -2 not configured, -1 not used yet, 0 down, 1 up.
  int redis_up = -2;
  uint64_t redis_fallbacks = 0;
};

class Registry {
 public:
  // Endpoints are numbered in config order; backends in config order, endpoint by endpoint (the
  // order in which the pipelines are built).
  Registry(int workers, const config::ServiceConfig& config);

  EndpointStats& endpoint(int worker, int id) { return workers_[worker]->endpoints[id]; }
  BackendStats& backend(int worker, int id) { return workers_[worker]->backends[id]; }
  // Where backend `id`'s circuit breaker (one per process) writes its state; kNoBreaker until
  // one does.
  std::atomic<int>& breaker_state(int id) { return breaker_states_[id]; }
  // Backend `id` has an HTTP cache (its cache_* counts are listed). Called while the stacks are
  // built, before anything reads the registry.
  void mark_cached(int id) { backend_labels_[id].has_cache = true; }

  // sluice/cluster-ratelimit: Redis up (1), down (0) or not configured / not yet known (-1), and
  // the decisions its on_error made.
  void set_redis_up(int up) { redis_up_.store(up, std::memory_order_relaxed); }
  void count_redis_fallback() { redis_fallbacks_.fetch_add(1, std::memory_order_relaxed); }

  // Sums every worker's counters. Safe from any thread at any time.
  Snapshot Read() const;

 private:
  struct PerWorker {
    std::unique_ptr<EndpointStats[]> endpoints;
    std::unique_ptr<BackendStats[]> backends;
  };
  std::vector<std::unique_ptr<PerWorker>> workers_;
  std::vector<EndpointSnapshot> endpoint_labels_;
  std::vector<BackendSnapshot> backend_labels_;
  std::unique_ptr<std::atomic<int>[]> breaker_states_;
  std::atomic<int> redis_up_{-2};  // -2: no sluice/cluster-ratelimit
  std::atomic<uint64_t> redis_fallbacks_{0};
};

}  // namespace sluice::metrics
