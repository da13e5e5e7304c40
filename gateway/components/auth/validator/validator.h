#pragma once

// KrakenD's `auth/validator` (endpoint level; v2 `github.com/devopsfaith/krakend-jose/validator`):
// the endpoint answers only requests carrying a valid JWT. The token comes from
// `auth_header_name` (default Authorization, "Bearer " stripped) or, when that header is
// absent, the `cookie_key` cookie (default access_token). Its signature is checked with a key
// of the JWK Set (`jwk_local_path`, read at load; or `jwk_url`, fetched: validator/keys.h) whose
// kid the token names, with exactly the configured `alg`; then exp/nbf/iat (with `leeway`),
// `issuer` and `audience`. Any failure: 401, empty body. A valid token without one of `roles`
// (or without the `scopes`): 403. `propagate_claims` copies claims into request headers.
//
// Where KrakenD would run the endpoint answering 401 to everything (an http:// URL or a local
// file without disable_jwk_security), Sluice does the same and `check` warns. What Sluice does
// not implement (https:// JWK URLs until TLS lands, encrypted key files, certificate
// pinning) refuses the file: an endpoint its author locked must never answer anyone.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "gateway/components/auth/validator/jose.h"
#include "gateway/components/auth/validator/keys.h"
#include "gateway/config/reader.h"
#include "gateway/pipeline/stage.h"

namespace sluice::components::auth {

inline constexpr std::string_view kValidatorNamespace = "auth/validator";

struct ValidatorConfig : config::ComponentConfig {
  Alg alg = Alg::kRS256;
  // Keys: a local set (read and parsed at load), or a URL to fetch.
  std::shared_ptr<const KeySet> local_keys;
  std::string jwk_url;
  JwkTls jwk_tls;  // for an https:// jwk_url
  absl::Duration cache_duration = absl::Seconds(900);
  absl::Duration cooldown = absl::Seconds(1);
  // Set when KrakenD would answer 401 to every request (insecure source without
  // disable_jwk_security): why, for the log.
  std::string refuse_all;

  KeyIdentify key_identify = KeyIdentify::kKid;
  std::vector<std::string> audience;
  std::string issuer;
  std::vector<std::string> roles;
  std::string roles_key = "roles";
  bool roles_key_is_nested = false;
  std::vector<std::string> scopes;
  std::string scopes_key;
  bool scopes_match_all = false;
  std::string cookie_key = "access_token";
  std::string auth_header_name = "Authorization";
  std::vector<std::pair<std::string, std::string>> propagate_claims;  // claim, header
  bool propagate_claims_preserve_array = false;
  absl::Duration leeway = absl::Seconds(1);
  bool operation_debug = false;
};

std::shared_ptr<const ValidatorConfig> ParseValidator(config::ObjectReader& reader);

// A claim by name: dots traverse nested objects when `nested` and the name does not start with
// "http" (claims named by URLs are flat); else the top-level claim of that exact name.
const nlohmann::json* FindClaim(const nlohmann::json& claims, const std::string& name, bool nested);
// A claim as KrakenD writes it into a header or URL: strings as they are, integral numbers
// without a fraction, other numbers with six decimals, arrays as their items joined by ",",
// anything else as compact JSON.
std::string RenderClaim(const nlohmann::json& value);

class ValidatorStage final : public pipeline::Stage {
 public:
  // `remote` is null for a local key set, and when nothing may start (sluice check).
  // `url_claims`: the endpoint's {JWT.claim} placeholders (config::JwtPlaceholders), whose values
  // a valid token appends to the request's params in that order.
  // `workers`: one token cache per worker thread (none when 0).
  ValidatorStage(const ValidatorConfig& config, std::shared_ptr<RemoteKeys> remote,
                 std::vector<std::string> url_claims, int workers)
      : config_(config),
        remote_(std::move(remote)),
        url_claims_(ClaimsOf(std::move(url_claims))),
        caches_(static_cast<size_t>(std::max(workers, 0))) {}
  std::string_view name() const override { return kValidatorNamespace; }
  pipeline::StageResult OnRequest(pipeline::RequestContext& ctx) const override;

 private:
  enum class Outcome { kValid, kUnauthorized, kForbidden, kUnknownKey };
  Outcome Check(pipeline::RequestContext& ctx, const KeySet* keys, std::string* why) const;
  pipeline::StageResult Finish(pipeline::RequestContext& ctx, Outcome outcome,
                               const std::string& why) const;
  // What a valid token's claims do to the request: {JWT.claim} params, propagated headers.
  void Apply(pipeline::RequestContext& ctx, const nlohmann::json& claims) const;
  void Remember(int worker, std::string_view token, const KeySet* keys, double exp,
                std::shared_ptr<const nlohmann::json> claims) const;

  // Tokens that passed every check, by their bytes, per worker thread (no lock): a hit skips
  // the signature (an RS256 check costs tens of microseconds) while the same key set is in
  // force and the token has not expired. Bounded in entries and bytes; full means cleared.
  static constexpr size_t kMaxCachedTokens = 10000;
  static constexpr size_t kMaxCacheBytes = 8 << 20;
  static constexpr size_t kMaxCachedToken = 8 << 10;
  struct CachedToken {
    uint64_t keys;  // KeySet::id it was verified with; another set means check again
    double exp;     // +inf without exp
    std::shared_ptr<const nlohmann::json> claims;
  };
  struct TokenCache {
    absl::flat_hash_map<std::string, CachedToken> entries;
    size_t bytes = 0;
  };

  const ValidatorConfig& config_;  // owned by the service config, which outlives the stack
  std::shared_ptr<RemoteKeys> remote_;
  // ("JWT.sub", "sub"): each {JWT.claim} placeholder with its claim's name.
  static std::vector<std::pair<std::string, std::string>> ClaimsOf(
      std::vector<std::string> placeholders) {
    std::vector<std::pair<std::string, std::string>> out;
    for (std::string& p : placeholders) {
      std::string claim = p.substr(p.find('.') + 1);
      out.emplace_back(std::move(p), std::move(claim));
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> url_claims_;
  mutable std::vector<TokenCache> caches_;
};

}  // namespace sluice::components::auth
