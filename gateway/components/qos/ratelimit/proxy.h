#pragma once

// KrakenD's `qos/ratelimit/proxy` (backend level): at most `max_rate` calls per `every` to one
// backend, per process (one lock-free bucket, ratelimit/bucket.h). A call over the limit is not
// made: it fails with ErrorKind::kRejected ("rate limit exceeded"), which a single-backend
// endpoint answers 500 and a merging one as a partial answer, as KrakenD.

#include <memory>
#include <string_view>

#include "gateway/backend/backend.h"
#include "gateway/components/qos/ratelimit/bucket.h"
#include "gateway/config/reader.h"

namespace sluice::components::ratelimit {

inline constexpr std::string_view kProxyNamespace = "qos/ratelimit/proxy";

struct ProxyConfig : config::ComponentConfig {
  double max_rate = 0;
  int64_t capacity = 0;  // 0: the per-second rate, at least 1
  Nanos every = 1'000'000'000;
};

std::shared_ptr<const ProxyConfig> ParseProxy(config::ObjectReader& reader);

backend::BackendPtr WrapProxy(const ProxyConfig& config, backend::BackendPtr next);

}  // namespace sluice::components::ratelimit
