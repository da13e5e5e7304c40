#include "gateway/components/qos/circuitbreaker/breaker.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "gateway/common/clock.h"
#include "gateway/common/logging.h"
#include "gateway/metrics/registry.h"

namespace sluice::components::circuitbreaker {

namespace {

constexpr int64_t kSecond = 1'000'000'000;
// Longer than any sensible window or open time (a day); more is a typo.
constexpr int64_t kMaxSeconds = 86'400;

class BreakerBackend final : public backend::Backend {
 public:
  BreakerBackend(const Config& config, backend::BackendPtr next, std::string label)
      : breaker_(std::make_shared<Breaker>(config, std::move(label), SteadyNanos())),
        next_(std::move(next)) {}

  const Breaker& breaker() const { return *breaker_; }

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override {
    uint64_t generation = 0;
    if (!breaker_->Before(SteadyNanos(), &generation)) {
      // Never inside Call (the Backend contract): the answer is posted to the worker's loop.
      boost::asio::post(*ctx.ioc, [done = std::move(done)]() mutable {
        backend::BackendResponse refused;
        refused.error =
            backend::Error::Of(backend::ErrorKind::kRejected, "circuit breaker is open");
        done(std::move(refused));
      });
      return;
    }
    // The breaker is shared with the callback: a call may end after the stack is gone.
    next_->Call(std::move(request), ctx, deadline,
                [breaker = breaker_, generation,
                 done = std::move(done)](backend::BackendResponse&& response) mutable {
                  breaker->After(generation, response.ok(), SteadyNanos());
                  done(std::move(response));
                });
  }

 private:
  std::shared_ptr<Breaker> breaker_;
  backend::BackendPtr next_;
};

}  // namespace

std::shared_ptr<const Config> Parse(config::ObjectReader& r) {
  r.CheckKeys({"interval", "timeout", "max_errors", "name", "log_status_change"});
  auto c = std::make_shared<Config>();
  // KrakenD reads integers of seconds; a Go duration string is read too.
  if (auto d = r.Duration("interval", /*int_seconds=*/true)) {
    c->interval_s = absl::ToInt64Seconds(*d);
    if (c->interval_s < 0 || c->interval_s > kMaxSeconds) {
      r.Error("interval", absl::StrCat("must be between 0 and ", kMaxSeconds, " seconds"));
    }
  }
  int64_t timeout = 0;
  if (auto d = r.Duration("timeout", /*int_seconds=*/true)) {
    timeout = absl::ToInt64Seconds(*d);
    if (timeout < 0 || timeout > kMaxSeconds) {
      r.Error("timeout", absl::StrCat("must be between 0 and ", kMaxSeconds, " seconds"));
    }
  }
  if (auto n = r.Int("max_errors", 0, int64_t{1} << 31)) c->max_errors = *n;
  if (auto name = r.String("name")) c->name = *name;
  if (auto log = r.Bool("log_status_change")) c->log_status_change = *log;
  if (c->interval_s == 0 && timeout == 0 && c->max_errors == 0) {
    c->enabled = false;
    r.Warn("",
           "warning: interval, timeout and max_errors are all 0: the breaker is off, as in "
           "KrakenD");
  }
  c->timeout_s = timeout > 0 ? timeout : 60;
  return c;
}

std::string_view ToString(State state) {
  switch (state) {
    case State::kClosed:
      return "closed";
    case State::kHalfOpen:
      return "half-open";
    case State::kOpen:
      return "open";
  }
  return "unknown";
}

Breaker::Breaker(const Config& config, std::string label, Nanos now)
    : config_(config), label_(std::move(label)) {
  NewGeneration(now);
}

bool Breaker::Before(Nanos now, uint64_t* generation) {
  std::lock_guard<std::mutex> lock(mu_);
  const State state = CurrentState(now);
  if (state == State::kOpen) return false;
  // Half-open lets one call through (gobreaker's MaxRequests 0 means 1).
  if (state == State::kHalfOpen && half_open_calls_ >= 1) return false;
  if (state == State::kHalfOpen) ++half_open_calls_;
  *generation = generation_;
  return true;
}

void Breaker::After(uint64_t generation, bool success, Nanos now) {
  std::lock_guard<std::mutex> lock(mu_);
  const State state = CurrentState(now);
  if (generation != generation_) return;
  if (success) {
    consecutive_failures_ = 0;
    if (state == State::kHalfOpen) SetState(State::kClosed, now);
    return;
  }
  ++consecutive_failures_;
  if (state == State::kHalfOpen ||
      (state == State::kClosed && consecutive_failures_ > config_.max_errors)) {
    SetState(State::kOpen, now);
  }
}

State Breaker::state(Nanos now) {
  std::lock_guard<std::mutex> lock(mu_);
  return CurrentState(now);
}

State Breaker::CurrentState(Nanos now) {
  if (expiry_ != 0 && expiry_ <= now) {
    if (state_ == State::kClosed) {
      NewGeneration(now);
    } else if (state_ == State::kOpen) {
      SetState(State::kHalfOpen, now);
    }
  }
  return state_;
}

void Breaker::SetState(State next, Nanos now) {
  if (next == state_) return;
  if (config_.log_status_change) {
    log::Warn("[BACKEND: {}][CB] circuit breaker named '{}' went from '{}' to '{}'", label_,
              config_.name, ToString(state_), ToString(next));
  }
  state_ = next;
  published_->store(static_cast<int>(next), std::memory_order_relaxed);
  NewGeneration(now);
}

void Breaker::NewGeneration(Nanos now) {
  ++generation_;
  consecutive_failures_ = 0;
  half_open_calls_ = 0;
  switch (state_) {
    case State::kClosed:
      expiry_ = config_.interval_s > 0 ? now + config_.interval_s * kSecond : 0;
      break;
    case State::kOpen:
      expiry_ = now + config_.timeout_s * kSecond;
      break;
    case State::kHalfOpen:
      expiry_ = 0;
      break;
  }
}

backend::BackendPtr Wrap(const Config& config, backend::BackendPtr next, std::string label,
                         metrics::Registry* registry, int backend_id) {
  if (!config.enabled) return next;
  auto wrapped = std::make_unique<BreakerBackend>(config, std::move(next), std::move(label));
  if (registry != nullptr) registry->set_breaker(backend_id, wrapped->breaker().published());
  return wrapped;
}

}  // namespace sluice::components::circuitbreaker
