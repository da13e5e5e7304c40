#pragma once

// Status and response policies of an endpoint and its backends, read once from extra_config when
// the pipeline is built (KrakenD keys where KrakenD has them):
//   backend  "backend/http":  return_error_code (bool), return_error_details ("alias")
//   backend  "sluice/backend": success_status ("200-201" default, or "2xx"),
//                              return_headers (response headers passed to the client)
//   endpoint "proxy": static {strategy: always|success|complete|errored|incomplete, data: {...}}
//   service  "router": return_error_msg (bool)

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "nlohmann/json.hpp"

namespace sluice::pipeline {

struct BackendPolicy {
  bool success_any_2xx = false;      // beyond KrakenD: 202, 204... count as success
  bool return_error_code = false;    // the failed backend's status reaches the client
  std::string error_details_alias;   // non-empty: failures become "error_<alias>" objects
  std::vector<std::string> return_headers;  // lower-case names

  bool IsSuccess(unsigned status) const {
    return success_any_2xx ? status >= 200 && status < 300 : status == 200 || status == 201;
  }

  static absl::StatusOr<BackendPolicy> FromConfig(const config::Backend& backend);
};

struct StaticResponse {
  enum class Strategy { kAlways, kSuccess, kComplete, kErrored, kIncomplete };
  Strategy strategy = Strategy::kAlways;
  nlohmann::json data = nlohmann::json::object();

  // Whether the static data joins a response whose backends `all_ok` / some failed.
  bool AppliesTo(bool all_ok) const;
};

struct EndpointPolicy {
  bool return_error_msg = false;  // a failed endpoint answers with the error text
  std::optional<StaticResponse> static_response;

  static absl::StatusOr<EndpointPolicy> FromConfig(const config::ServiceConfig& service,
                                                   const config::Endpoint& endpoint);
};

}  // namespace sluice::pipeline
