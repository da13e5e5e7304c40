#pragma once

// Request metrics without locks on the hot path: every worker thread owns its own block of
// counters (single writer, relaxed atomics without a read-modify-write), and readers (the admin
// service, /metrics) sum the blocks when they ask. Nothing is shared between workers.
//
// One registry lives as long as the process, across configuration reloads: an endpoint keeps its
// counters while its method and path stay, a backend while its endpoint, position, url_pattern
// and hosts stay. Slots are never freed (a removed endpoint's counters wait for it to come back);
// they are only listed while the live configuration has them.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/common/stable_slots.h"
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

// Values of BackendSnapshot::breaker_state and of the state a breaker gives Registry::set_breaker.
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

// Where a configuration's endpoints and backends count: slot numbers in config order (backends
// endpoint by endpoint, as the pipelines are built).
struct Slots {
  std::vector<int> endpoints;
  std::vector<int> backends;
};

class Registry {
 public:
  // Slots come in chunks that never move once allocated, so a worker indexes them without a
  // lock while a reload adds more; kMaxChunks bounds the slots a process can ever hold.
  static constexpr int kChunk = 256;
  static constexpr int kMaxChunks = 1024;

  // No configuration yet: Register and Activate one.
  explicit Registry(int workers);
  // Registers and lists `config`: its endpoints get slots 0..n-1, its backends 0..m-1 (tests).
  Registry(int workers, const config::ServiceConfig& config);

  // The slots of `config`'s endpoints and backends: the ones they had in an earlier
  // configuration, or new ones. Not listed until Activate. Registering and building a
  // configuration happen on one thread at a time (start-up, then the main loop's reloads).
  // ResourceExhausted past the slots a process can hold (the configuration is then refused).
  absl::StatusOr<Slots> Register(const config::ServiceConfig& config);
  // From now on, Read lists exactly `slots` (the live configuration's), with the caches and
  // breakers attached to them since they were registered.
  void Activate(const Slots& slots);

  EndpointStats& endpoint(int worker, int id) { return workers_[worker]->endpoints[id]; }
  BackendStats& backend(int worker, int id) { return workers_[worker]->backends[id]; }
  // Backend `id` has a circuit breaker in the configuration being built, and it writes its state
  // (kBreakerClosed...) in `state`. Listed once Activate makes that configuration live: a
  // reload that fails never replaces the live breaker's state, and a backend whose new
  // configuration has no breaker no longer shows the old one's. Called while the stacks are
  // built.
  void set_breaker(int id, std::shared_ptr<const std::atomic<int>> state);
  // Backend `id` has an HTTP cache (its cache_* counts are listed once Activate makes its
  // configuration live). Called while the stacks are built.
  void mark_cached(int id);

  // sluice/cluster-ratelimit: Redis up (1), down (0) or not configured / not yet known (-1), and
  // the decisions its on_error made.
  void set_redis_up(int up) { redis_up_.store(up, std::memory_order_relaxed); }
  void count_redis_fallback() { redis_fallbacks_.fetch_add(1, std::memory_order_relaxed); }

  // Sums every worker's counters. Safe from any thread at any time.
  Snapshot Read() const;

 private:
  template <class T>
  using Chunks = StableSlots<T, kChunk, kMaxChunks>;
  struct PerWorker {
    Chunks<EndpointStats> endpoints;
    Chunks<BackendStats> backends;
  };
  // Allocates the chunk that slot `id` falls in, for every worker, if it is new; false past
  // kMaxChunks.
  bool Grow(int id, bool backend) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot `key` has in `index`, or a new one labelled by `make_label()`; -1 when no slot is
  // left.
  template <class Label, class MakeLabel>
  int SlotOf(std::map<std::string, int>& index, std::vector<Label>& labels, std::string key,
             bool backend, const MakeLabel& make_label) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::vector<std::unique_ptr<PerWorker>> workers_;
  mutable absl::Mutex mu_;
  std::vector<EndpointSnapshot> endpoint_labels_ ABSL_GUARDED_BY(mu_);  // by slot
  std::vector<BackendSnapshot> backend_labels_ ABSL_GUARDED_BY(mu_);    // by slot
  std::map<std::string, int> endpoint_slots_ ABSL_GUARDED_BY(mu_);      // by label key
  std::map<std::string, int> backend_slots_ ABSL_GUARDED_BY(mu_);
  Slots live_ ABSL_GUARDED_BY(mu_);
  // What a configuration's components attach to its backends' slots (mark_cached,
  // set_breaker): since the last Register, and of the live configuration (from Activate).
  struct Attached {
    bool cache = false;
    std::shared_ptr<const std::atomic<int>> breaker;  // null: no breaker
  };
  std::map<int, Attached> built_ ABSL_GUARDED_BY(mu_);
  std::map<int, Attached> attached_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> redis_up_{-2};  // -2: no sluice/cluster-ratelimit
  std::atomic<uint64_t> redis_fallbacks_{0};
};

}  // namespace sluice::metrics
