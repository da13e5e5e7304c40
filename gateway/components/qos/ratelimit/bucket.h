#pragma once

// A token bucket without a lock: the generic cell rate algorithm (GCRA, as ATM switches and
// Redis-cell do). One 64-bit "theoretical arrival time" replaces the token count and the refill
// clock: a call is admitted when that time is within `capacity - 1` intervals of now, and pushes
// it one interval on. It admits exactly what a bucket of `capacity` tokens refilled one token per
// interval admits, starts full, and a bucket at rest (TAT <= now) equals a fresh one, so idle
// client buckets can be dropped without changing anyone's budget.

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "gateway/common/clock.h"

namespace sluice::components::ratelimit {

// Nanoseconds on a monotonic clock.
using Nanos = int64_t;

struct Rate {
  Nanos interval = 0;   // one token every `interval`
  Nanos tolerance = 0;  // (capacity - 1) intervals: how far ahead of now the TAT may run
};

// `tokens` per `every` (fractions allowed, e.g. 0.5 per second), holding at most `capacity`.
inline Rate MakeRate(double tokens, Nanos every, int64_t capacity) {
  Rate r;
  r.interval = std::max<Nanos>(1, static_cast<Nanos>(static_cast<double>(every) / tokens));
  r.tolerance = (std::max<int64_t>(capacity, 1) - 1) * r.interval;
  return r;
}

// A limit of more than this many calls per second is a typo; so is a larger burst.
inline constexpr double kMaxRate = 1e9;
inline constexpr int64_t kMaxCapacity = int64_t{1} << 40;

// KrakenD's capacity default: the per-second rate, rounded down, at least 1.
inline int64_t CapacityFor(double rate, Nanos every, int64_t configured) {
  if (configured > 0) return configured;
  const double per_second = rate * 1e9 / static_cast<double>(every);
  return std::max<int64_t>(1, static_cast<int64_t>(per_second));
}

// Admits a call at `now` against the TAT in `tat` and advances it; false when the bucket is
// empty. The non-atomic form, for state already guarded (a client shard).
inline bool Take(const Rate& rate, Nanos now, Nanos* tat) {
  const Nanos base = std::max(*tat, now);
  if (base - now > rate.tolerance) return false;
  *tat = base + rate.interval;
  return true;
}

// The shared form: one compare-and-swap per admitted call, shared by every worker.
class Bucket {
 public:
  explicit Bucket(Rate rate) : rate_(rate) {}

  bool Take(Nanos now) {
    Nanos tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      Nanos next = tat;
      if (!ratelimit::Take(rate_, now, &next)) return false;
      if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
    }
  }

 private:
  const Rate rate_;
  std::atomic<Nanos> tat_{0};
};

}  // namespace sluice::components::ratelimit
