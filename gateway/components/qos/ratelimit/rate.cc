#include "gateway/components/qos/ratelimit/rate.h"

#include "absl/strings/str_cat.h"
#include "gateway/components/qos/ratelimit/bucket.h"

namespace sluice::components::ratelimit {

std::optional<double> ReadRate(config::ObjectReader& r, std::string_view key) {
  std::optional<double> rate = r.Number(key);
  if (rate && (*rate < 0 || *rate > kMaxRate)) {
    r.Error(key, absl::StrCat("must be between 0 (no limit) and ", kMaxRate, ", got ", *rate));
    return std::nullopt;
  }
  return rate;
}

}  // namespace sluice::components::ratelimit
