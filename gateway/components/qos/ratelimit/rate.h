#pragma once

// The keys both rate limits read the same way.

#include <optional>
#include <string_view>

#include "gateway/config/reader.h"

namespace sluice::components::ratelimit {

// A rate (`max_rate`, `client_max_rate`): a number between 0 (no limit) and kMaxRate, else a
// check error at `key` and nullopt.
std::optional<double> ReadRate(config::ObjectReader& reader, std::string_view key);

}  // namespace sluice::components::ratelimit
