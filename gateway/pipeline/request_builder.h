#pragma once

// Builds the request a backend receives from the client's request, KrakenD's zero-trust way:
// only allow-listed query strings and headers pass, {params} are substituted into url_pattern
// percent-encoded (so no value can change the backend path, query or headers), and the
// X-Forwarded-* and User-Agent headers are always set. Pure: no I/O, unit-tested directly.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/backend/backend.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "nlohmann/json.hpp"

namespace sluice::pipeline {

// url_pattern compiled once: literal pieces and parameter references.
class UrlTemplate {
 public:
  // `params` are the endpoint's parameter names; every {x} in `pattern` must be one of them, or,
  // when `sequential`, a {respN_a.b} reference to the answer of an earlier backend N.
  static absl::StatusOr<UrlTemplate> Compile(std::string_view pattern,
                                             const std::vector<std::string>& params,
                                             bool sequential = false);

  // Appends the expanded pattern to `out`; values are percent-encoded (RFC 3986 unreserved
  // characters pass, everything else, '/' included, becomes %XX). `previous[N]` is backend N's
  // answer for {respN_...} pieces (absent or missing fields expand to nothing).
  void Expand(const backend::Params& values, std::string* out,
              const std::vector<const nlohmann::json*>* previous = nullptr) const;

  bool has_query() const { return has_query_; }

 private:
  struct Piece {
    std::string literal;
    int param = -1;     // index into router::Params, or -1 for a literal
    int response = -1;  // {respN_...}: N, with the field's dot path below
    std::vector<std::string> field;
  };
  static bool ParseResponseRef(std::string_view name, UrlTemplate* t,
                               std::string_view literal_before);
  static void AppendResponseField(const nlohmann::json* answer,
                                  const std::vector<std::string>& field, std::string* out);

  std::vector<Piece> pieces_;
  bool has_query_ = false;
};

// Appends `value` percent-encoded to `out` (unreserved characters kept).
void PercentEncode(std::string_view value, std::string* out);

// The first value of `key` in a raw query string, both decoded as a form is ('+' a space), or
// nullopt when the query has no such key.
std::optional<std::string> FirstQueryValue(std::string_view query, std::string_view key);

// Filters a raw query string ("a=1&b=2&a=3") by `allow`, keeping order and repetitions.
// Keys are compared after percent-decoding; values pass through as the client encoded them.
std::string FilterQuery(std::string_view raw_query, const config::AllowList& allow);

struct BackendRequestSpec {
  const UrlTemplate* url;
  std::string method;                    // upper-case backend method
  const config::AllowList* query_allow;  // endpoint allow-list
  const config::AllowList* header_allow;
  const config::AllowList* backend_query_allow;   // optional second-level filter (may be null)
  const config::AllowList* backend_header_allow;  // optional (may be null)
  bool pass_accept_encoding = false;  // only no-op passes compressed bodies through unchanged
  // Also hand the allow-listed query strings over decoded (BackendRequest::query), for backends
  // that map them onto fields (gRPC).
  bool decode_query = false;
};

// Builds the backend request. `body` is moved in when the backend method carries one.
// `request_id` is sent as X-Request-Id (none when empty). `previous` holds the answers of
// earlier backends of a sequential endpoint.
backend::BackendRequest BuildBackendRequest(
    const BackendRequestSpec& spec, const http::Request& client, std::string_view client_ip,
    const backend::Params& params, std::string body, std::string_view request_id = {},
    const std::vector<const nlohmann::json*>* previous = nullptr);

}  // namespace sluice::pipeline
