#pragma once

// An endpoint's path parameters as the router found them: names (pointing into the router, which
// outlives every request) and percent-decoded values, in template order.

#include <string>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"

namespace sluice {

using PathParams = absl::InlinedVector<std::pair<std::string_view, std::string>, 4>;

}  // namespace sluice
