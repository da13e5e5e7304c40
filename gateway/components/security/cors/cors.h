#pragma once

// security/cors at the dispatcher: answers preflights (OPTIONS with
// Access-Control-Request-Method) for any path, endpoint or not, and wraps every other exchange
// so whatever answers it (an endpoint, a guard's 401, the router's 404) carries the CORS
// headers. Built only when the config has the namespace: without it the dispatcher holds no
// Cors and pays one null check.

#include <memory>

#include "gateway/components/security/cors/config.h"
#include "gateway/http/exchange.h"

namespace sluice::components::cors {

class Cors {
 public:
  explicit Cors(std::shared_ptr<const Config> config) : config_(std::move(config)) {}

  // Answers a preflight and returns true, or replaces `*exchange` by one that adds the CORS
  // headers to its answer and returns false (the caller routes it).
  bool Handle(http::ExchangePtr* exchange) const;

  bool OriginAllowed(std::string_view origin) const;  // `origin` as sent (any case)

 private:
  bool MethodAllowed(std::string_view method) const;
  bool HeadersAllowed(std::string_view requested) const;

  std::shared_ptr<const Config> config_;
};

}  // namespace sluice::components::cors
