#pragma once

// KrakenD's `backend/http` (backend level; v1 `github.com/devopsfaith/krakend/http`): what a
// failed backend status gives the client. Used by the status policy of the backend's decode
// stage and by the merge stage (pipeline/decode.h, pipeline/merge.h).

#include <memory>
#include <optional>
#include <string>

#include "gateway/config/reader.h"

namespace sluice::components::backend_http {

inline constexpr std::string_view kNamespace = "backend/http";

struct Config : config::ComponentConfig {
  bool return_error_code = false;   // the failed backend's status reaches the client
  std::string error_details_alias;  // non-empty: failures become "error_<alias>" objects
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::backend_http
