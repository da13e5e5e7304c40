#pragma once

// Sluice's `sluice/cluster-ratelimit` (service level): the qos/ratelimit/router limits of every
// endpoint enforced across all the instances that share one Redis, instead of per process
// (KrakenD keeps this in its Enterprise edition).
//   address:  "host:port" of the Redis server (required)
//   timeout:  the longest a request waits for Redis's decision (default 50ms, 1ms..5s)
//   on_error: what a request gets when Redis is down, slow or answers an error: "deny"
//             (default: fail closed, 503) or "allow" (fail open: the request goes on)
//   prefix:   Redis key prefix (default "sluice:ratelimit:"); instances that share a prefix share
//             the limits of endpoints with the same method and path
// The decision is one EVAL of a GCRA script (the algorithm of ratelimit/bucket.h) on Redis's
// clock, so nodes with skewed clocks still share one budget; the per-client key comes first
// (429), then the endpoint's (503), as KrakenD orders them. Each worker has its own connection
// on its own event loop (hiredis's async API driven by Asio: no thread, no lock on the path). A
// dropped connection is retried at most once a second; meanwhile decisions are on_error's at
// once, without waiting. Every change between "up" and "down" is logged once and published to
// metrics (sluice_ratelimit_redis_up, and the decisions on_error made).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gateway/backend/backend.h"
#include "gateway/config/reader.h"
#include "gateway/metrics/registry.h"

namespace sluice::components::clusterlimit {

inline constexpr std::string_view kNamespace = "sluice/cluster-ratelimit";

struct Config : config::ComponentConfig {
  std::string host;
  uint16_t port = 6379;
  absl::Duration timeout = absl::Milliseconds(50);
  bool allow_on_error = false;
  std::string prefix = "sluice:ratelimit:";
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

// One configured limit: its Redis key and its GCRA parameters in microseconds, kept as the
// script's argument text so a decision formats nothing.
struct Limit {
  Limit(std::string key, int64_t interval_us, int64_t tolerance_us);
  std::string key;  // a client's key is this plus the client's identity
  std::string interval_us;
  std::string tolerance_us;
};

// One limit of a decision: `limit`, for `client` (empty: the limit's own key).
struct Check {
  const Limit* limit;
  std::string_view client;
};

enum class Verdict { kAdmit, kFirstRefused, kSecondRefused, kUnavailable };

class Connection;

// The process's Redis client for rate decisions: one connection per worker.
class RedisLimiter {
 public:
  using Decided = absl::AnyInvocable<void(Verdict)>;

  // `registry` (may be null) receives the up/down state and the on_error decisions.
  RedisLimiter(const Config& config, int workers, metrics::Registry* registry);
  ~RedisLimiter();

  // The one limiter of `config` (the service's), shared by every endpoint that uses it.
  static std::shared_ptr<RedisLimiter> For(const Config& config, int workers,
                                           metrics::Registry* registry);

  // Decides on `checks` (one or two, in order) and calls `done` once, later, on the worker's
  // thread: kAdmit, kFirstRefused / kSecondRefused naming the check that refused, or
  // kUnavailable when Redis did not decide within the timeout (the caller applies on_error).
  void Decide(const backend::CallContext& call, absl::Span<const Check> checks, Decided done);

  bool allow_on_error() const { return config_.allow_on_error; }
  const std::string& prefix() const { return config_.prefix; }

  // Called by connections: Redis answered (true) or failed (false). Logs changes of state.
  void Observe(bool up);
  void CountFallback();

 private:
  const Config config_;
  metrics::Registry* registry_;
  std::vector<std::shared_ptr<Connection>> connections_;  // by worker, created on first use
  std::atomic<int> state_{-1};                            // -1 unknown, 0 down, 1 up
};

}  // namespace sluice::components::clusterlimit
