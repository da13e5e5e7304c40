#pragma once

// The pure half of a merging endpoint: what one backend answer contributes to a request (a
// Part: status policy -> decoder -> shaper) and how the parts become the client's answer
// (merge in declaration order -> static data -> render, or the failure policy). No I/O, no
// clock: unit-tested with fake backend answers (tests/gateway/pipeline/merge_test).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/backend/error.h"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/pipeline/policy.h"
#include "gateway/shaping/shaping.h"
#include "nlohmann/json.hpp"

namespace sluice::pipeline {

// What one backend contributed to a request.
struct Part {
  std::optional<nlohmann::json> data;  // shaped object, or the error_<alias> details
  bool ok = false;
  backend::Error error;
  std::string error_body;  // the backend's body of a failed status, for return_error_msg
  std::vector<std::pair<std::string, std::string>> headers;  // return_headers found
};

// Status policy, decoder and shaper of one backend answer. `shaper` may be null (identity).
Part DecodeAnswer(const config::Backend& backend, const BackendPolicy& policy,
                  const shaping::BackendShaper* shaper, backend::rest::CallResult&& result);

// Turns the parts of one request into the client's response. Built once per endpoint.
class Merger {
 public:
  // `return_error_code[i]` is backend i's backend/http.return_error_code.
  Merger(const config::Endpoint& endpoint, EndpointPolicy policy,
         std::vector<bool> return_error_code);

  // Merges `parts` (one per backend, in declaration order; consumed) and renders them for a
  // client that sent `accept` (empty when absent).
  http::Response Merge(std::vector<Part>& parts, std::string_view accept) const;

 private:
  http::Response Failure(const std::vector<Part>& parts) const;
  http::Response GrpcError(const backend::Error& error) const;

  const config::Endpoint& endpoint_;
  EndpointPolicy policy_;
  std::vector<bool> return_error_code_;
  std::string cache_control_;  // empty without cache_ttl
};

}  // namespace sluice::pipeline
