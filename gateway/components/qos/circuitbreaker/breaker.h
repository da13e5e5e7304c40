#pragma once

// KrakenD's `qos/circuit-breaker` (backend level; v2 `github.com/devopsfaith/krakend-
// circuitbreaker/gobreaker`), with gobreaker's state machine: closed, it counts consecutive
// failures (cleared every `interval` seconds) and opens when they exceed `max_errors`; open, it
// fails every call at once without touching the backend, for `timeout` seconds; then half-open,
// it lets one call through: a success closes it, a failure opens it again. A failure is any
// error of the backend's stack below it (connect, timeout, reset, a failing status, a body that
// does not decode). A refused call fails with ErrorKind::kRejected: 500, as KrakenD.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "gateway/backend/backend.h"
#include "gateway/config/reader.h"
#include "gateway/metrics/registry.h"

namespace sluice::components::circuitbreaker {

inline constexpr std::string_view kNamespace = "qos/circuit-breaker";

struct Config : config::ComponentConfig {
  int64_t interval_s = 0;  // 0: consecutive failures are never cleared by time
  int64_t timeout_s = 60;  // open time before half-open (KrakenD: 0 means 60)
  int64_t max_errors = 0;  // trips when consecutive failures exceed it
  std::string name;
  bool log_status_change = false;
  bool enabled = true;  // false when interval, timeout and max_errors are all 0, as KrakenD
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

// Published to metrics as its number: 0 closed, 1 half-open, 2 open (metrics::kBreaker*).
enum class State { kClosed, kHalfOpen, kOpen };
std::string_view ToString(State state);

// The state machine, shared by every worker of the process (one per configured backend). A
// mutex guards it: held for a few comparisons per call, only on backends with a breaker.
class Breaker {
 public:
  using Nanos = int64_t;

  // `label` names the breaker in log lines (its `name`, or the backend); `now` starts the first
  // interval.
  Breaker(const Config& config, std::string label, Nanos now);

  // The state, as metrics read it from any thread: written at each change. Its own, shared with
  // the metrics registry, which lists it only while this breaker's configuration is live.
  std::shared_ptr<const std::atomic<int>> published() const { return published_; }

  // Whether a call may start at `now`; its generation (to pass to After) when it may.
  bool Before(Nanos now, uint64_t* generation);
  // The outcome of a call admitted in `generation`. Outcomes of an older generation (the state
  // changed while the call ran) are ignored, as gobreaker.
  void After(uint64_t generation, bool success, Nanos now);

  State state(Nanos now);

 private:
  State CurrentState(Nanos now);  // moves on by time (open -> half-open, closed interval)
  void SetState(State next, Nanos now);
  void NewGeneration(Nanos now);

  const Config config_;  // a copy: a call may end after the service config is gone
  const std::string label_;
  const std::shared_ptr<std::atomic<int>> published_ =
      std::make_shared<std::atomic<int>>(static_cast<int>(State::kClosed));
  std::mutex mu_;
  State state_ = State::kClosed;
  uint64_t generation_ = 0;
  Nanos expiry_ = 0;  // 0: none
  int64_t half_open_calls_ = 0;
  int64_t consecutive_failures_ = 0;
};

// The backend wrapper: a Breaker around `next`. With a registry, the breaker's state is backend
// `backend_id`'s in the metrics once the configuration being built goes live.
backend::BackendPtr Wrap(const Config& config, backend::BackendPtr next, std::string label,
                         metrics::Registry* registry = nullptr, int backend_id = 0);

}  // namespace sluice::components::circuitbreaker
