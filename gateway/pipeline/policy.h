#pragma once

// The status policy of one backend, assembled once from its components' typed configs:
//   backend/http:   return_error_code, return_error_details (KrakenD)
//   sluice/backend: success_status ("200-201" default, or "2xx"), return_headers (Sluice)

#include <string>
#include <vector>

#include "gateway/config/config.h"

namespace sluice::pipeline {

struct BackendPolicy {
  bool success_any_2xx = false;             // beyond KrakenD: 202, 204... count as success
  bool return_error_code = false;           // the failed backend's status reaches the client
  std::string error_details_alias;          // non-empty: failures become "error_<alias>" objects
  std::vector<std::string> return_headers;  // lower-case names

  bool IsSuccess(unsigned status) const {
    return success_any_2xx ? status >= 200 && status < 300 : status == 200 || status == 201;
  }

  static BackendPolicy FromConfig(const config::Backend& backend);
};

}  // namespace sluice::pipeline
