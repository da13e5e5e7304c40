#pragma once

// KrakenD's `security/cors` (service level; v1 `github_com/devopsfaith/krakend-cors`). The
// gateway answers CORS preflights itself and adds the CORS headers to every answer, errors
// included, so it sits outermost: at the dispatcher, before routing (cors.h). Endpoint-level
// CORS is KrakenD Enterprise: refused at check rather than ignored.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gateway/config/reader.h"

namespace sluice::components::cors {

inline constexpr std::string_view kNamespace = "security/cors";

struct Config : config::ComponentConfig {
  bool allow_all_origins = false;      // allow_origins empty or holding "*"
  std::vector<std::string> origins;    // lower-cased, exact
  struct Wildcard {
    std::string prefix, suffix;        // lower-cased; one '*' between them
  };
  std::vector<Wildcard> wildcards;
  std::vector<std::string> methods;    // upper-cased
  bool allow_all_headers = true;       // allow_headers empty or holding "*"
  std::vector<std::string> headers;    // lower-cased; always holds "origin"
  std::string expose_headers;          // canonicalised, joined ", "; empty when none
  absl::Duration max_age = absl::ZeroDuration();
  bool allow_credentials = false;
  bool options_passthrough = false;
  int options_success_status = 204;
  bool allow_private_network = false;
  bool debug = false;
};

// nullptr at endpoint/backend scope (after recording the refusal).
std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::cors
