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
  // `published` (may be null): where the state is written at each change, for metrics. It is
  // shared with the breaker of the configuration that is live: a new breaker writes it at once
  // only where nothing wrote it yet (the first configuration), else at its first call or change,
  // so one built by a reload that then fails never overwrites the live breaker's state.
  Breaker(const Config& config, std::string label, Nanos now,
          std::atomic<int>* published = nullptr);

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
  std::atomic<int>* const published_;
  std::mutex mu_;
  State state_ = State::kClosed;
  uint64_t generation_ = 0;
  Nanos expiry_ = 0;  // 0: none
  int64_t half_open_calls_ = 0;
  int64_t consecutive_failures_ = 0;
  bool announced_ = false;  // the state was written to `published_`
};

// The backend wrapper: a Breaker around `next`.
backend::BackendPtr Wrap(const Config& config, backend::BackendPtr next, std::string label,
                         std::atomic<int>* published = nullptr);

}  // namespace sluice::components::circuitbreaker
