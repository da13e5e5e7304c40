#pragma once

// Now on the monotonic clock, as one integer: what lock-free limiters and breakers store and
// compare (a std::atomic of it, no time_point arithmetic on the hot path).

#include <chrono>
#include <cstdint>

namespace sluice {

inline int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice
