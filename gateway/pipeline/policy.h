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
  // "[GET /users/{{.Id}}]:", what Lura's status handler puts between the status and the URL in
  // "invalid status code 404 [GET /users/{{.Id}}]: http://host/users/7" (StatusErrorPrefix).
  std::string status_error_prefix;

  bool IsSuccess(unsigned status) const {
    return success_any_2xx ? status >= 200 && status < 300 : status == 200 || status == 201;
  }

  static BackendPolicy FromConfig(const config::Backend& backend);
};

// Lura's status error prefix of `backend`: its method (the endpoint's when it names none) and its
// url_pattern as Lura keeps it after loading, each {param} written {{.Param}} (Go's
// strings.Title of the name).
std::string StatusErrorPrefix(const config::Endpoint& endpoint, const config::Backend& backend);

}  // namespace sluice::pipeline
