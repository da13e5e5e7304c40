#pragma once

// KrakenD's `router` namespace (service level; v1 `github_com/luraproject/lura/router/gin`):
// the keys that shape answers on the request path.
//   return_error_msg: a failed endpoint answers with the error text (pipeline/errors.h)
//   error_body: {"404": {...}, "405": {...}}: JSON bodies instead of gin's text for router misses
// The router keys that configure the process (disable_access_log, hide_version_header) are read
// with the service settings (gateway/config/config.h).

#include <memory>
#include <string>

#include "gateway/config/reader.h"

namespace sluice::components::router {

inline constexpr std::string_view kNamespace = "router";

struct Config : config::ComponentConfig {
  bool return_error_msg = false;
  std::string not_found_body;           // rendered error_body."404", or empty
  std::string method_not_allowed_body;  // rendered error_body."405", or empty
  // gin's redirects for a path that differs from a route by a trailing slash, or by letter case
  // and `//`, `.`, `..` (301 for GET, 307 otherwise); both on unless disabled, as in KrakenD.
  bool redirect_trailing_slash = true;
  bool redirect_fixed_path = true;
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::router
