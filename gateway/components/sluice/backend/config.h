#pragma once

// Sluice's `sluice/backend` (backend level): status policy beyond KrakenD's. Used by the
// backend's decode stage (pipeline/decode.h).
//   success_status: "200-201" (KrakenD's rule, the default) or "2xx" (any 2xx is a success)
//   return_headers: response headers of this backend passed to the client

#include <memory>
#include <string>
#include <vector>

#include "gateway/config/reader.h"

namespace sluice::components::sluice_backend {

inline constexpr std::string_view kNamespace = "sluice/backend";

struct Config : config::ComponentConfig {
  bool success_any_2xx = false;
  std::vector<std::string> return_headers;  // lower-case names
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::sluice_backend
