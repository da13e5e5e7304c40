#include "gateway/components/auth/validator/validator.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/common/clock.h"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/config/config.h"
#include "gateway/http/tls.h"

namespace sluice::components::auth {

namespace {

namespace bhttp = boost::beast::http;
using pipeline::StageResult;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string Name(Alg alg) { return std::string(AlgName(alg)); }

std::optional<std::vector<std::pair<std::string, std::string>>> ReadPropagation(
    config::ObjectReader& r) {
  const nlohmann::json* list = r.Find("propagate_claims");
  if (list == nullptr) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> out;
  if (!list->is_array()) {
    r.Error("propagate_claims", "must be an array of [claim, header] pairs");
    return std::nullopt;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& pair = (*list)[i];
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string() ||
        pair[0].get_ref<const std::string&>().empty() ||
        pair[1].get_ref<const std::string&>().empty()) {
      r.Error(absl::StrCat("propagate_claims[", i, "]"),
              "must be a pair of non-empty strings: [claim, header]");
      continue;
    }
    out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

// The values of a roles or scopes claim: an array of strings, or one space-separated string.
std::vector<std::string_view> Values(const nlohmann::json* claim) {
  std::vector<std::string_view> out;
  if (claim == nullptr) return out;
  if (claim->is_string()) {
    for (absl::string_view v :
         absl::StrSplit(claim->get_ref<const std::string&>(), ' ', absl::SkipEmpty())) {
      out.emplace_back(v.data(), v.size());
    }
  } else if (claim->is_array()) {
    for (const auto& v : *claim) {
      if (v.is_string()) out.push_back(v.get_ref<const std::string&>());
    }
  }
  return out;
}

bool Contains(const std::vector<std::string_view>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The token: the auth header ("Bearer " stripped, case-insensitively), or when that header is
// absent, the cookie.
std::string_view TokenOf(const http::Request& req, const ValidatorConfig& c) {
  auto header = req.find(Bv(c.auth_header_name));
  if (header != req.end()) {
    std::string_view v = TrimOws(Sv(header->value()));
    if (v.size() >= 7 && EqualsIgnoreCase(v.substr(0, 7), "Bearer ")) v = TrimOws(v.substr(7));
    return v;
  }
  for (auto it = req.find(bhttp::field::cookie);
       it != req.end() && it->name() == bhttp::field::cookie; ++it) {
    std::string_view cookies = Sv(it->value());
    while (!cookies.empty()) {
      const size_t semi = cookies.find(';');
      std::string_view pair = TrimOws(cookies.substr(0, semi));
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == c.cookie_key) {
        return TrimOws(pair.substr(eq + 1));
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
  }
  return {};
}

// A NumericDate claim (RFC 7519 2): absent is fine, anything but a number is not.
bool TimeClaim(const nlohmann::json& claims, const char* name, std::optional<double>* out) {
  auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (!it->is_number()) return false;
  *out = it->get<double>();
  return true;
}

// The TLS of an https:// jwk_url, as KrakenD's JWK client: TLS 1.2 or later, `cipher_suites`
// (Go's six ECDHE suites by default), the system pool plus `jwk_local_ca`, no verification with
// disable_jwk_security, and `jwk_fingerprints` pins checked after the handshake.
void ReadJwkTls(config::ObjectReader& r, bool insecure, JwkTls* out) {
  config::ClientTls tls;
  tls.configured = true;
  tls.min_version = config::kTls12;
  tls.max_version = config::kTls13;
  tls.allow_insecure_connections = insecure;
  tls.json_path = r.path();
  if (auto ca = r.String("jwk_local_ca"); ca && !ca->empty()) tls.ca_certs.push_back(*ca);
  if (const nlohmann::json* suites = r.Find("cipher_suites")) {
    if (!suites->is_array()) {
      r.Error("cipher_suites", "expected an array of Go cipher-suite numbers");
      return;
    }
    for (const nlohmann::json& id : *suites) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() > 0xffff) {
        r.Error("cipher_suites", absl::StrCat("not a cipher-suite number: ", id.dump()));
        return;
      }
      tls.cipher_suites.push_back(static_cast<uint16_t>(id.get<uint64_t>()));
    }
  }
  auto context = http::CreateClientContext(tls);
  if (!context.ok()) {
    // The message starts "<path>.ca_certs[0]: " or "<path>.cipher_suites: ": name our key.
    std::string message(context.status().message());
    const bool ca = absl::StartsWith(message, absl::StrCat(r.path(), ".ca_certs"));
    message.erase(0, message.find(": ") + 2);
    r.Error(ca ? "jwk_local_ca" : "cipher_suites", std::move(message));
    out->context = nullptr;
    out->describe = "invalid";
    return;
  }
  out->context = std::move(*context);
  if (auto pins = r.Strings("jwk_fingerprints")) out->fingerprints = std::move(*pins);
  out->describe = absl::StrCat(insecure ? "insecure|" : "", absl::StrJoin(tls.ca_certs, ","), "|",
                               absl::StrJoin(out->fingerprints, ","), "|",
                               absl::StrJoin(tls.cipher_suites, ","));
}

}  // namespace

std::shared_ptr<const ValidatorConfig> ParseValidator(config::ObjectReader& r) {
  r.CheckKeys({"alg",
               "jwk_url",
               "jwk_local_path",
               "secret_url",
               "cypher_key",
               "jwk_local_ca",
               "cache",
               "cache_duration",
               "failed_jwk_key_cooldown",
               "disable_jwk_security",
               "jwk_fingerprints",
               "cipher_suites",
               "key_identify_strategy",
               "audience",
               "issuer",
               "roles",
               "roles_key",
               "roles_key_is_nested",
               "scopes",
               "scopes_key",
               "scopes_matcher",
               "cookie_key",
               "auth_header_name",
               "propagate_claims",
               "propagate_claims_preserve_array",
               "leeway",
               "operation_debug"});
  auto c = std::make_shared<ValidatorConfig>();
  if (!r.Has("alg")) {
    r.Error("alg",
            "is required: the algorithm the tokens are signed with (RS256, PS256, ES256, "
            "EdDSA, HS256, ...)");
  } else if (auto alg = r.String("alg")) {
    if (auto parsed = ParseAlg(*alg)) {
      c->alg = *parsed;
    } else {
      r.Error("alg", absl::StrCat("unknown algorithm ", Quote(*alg),
                                  " (HS, RS, PS, ES with 256, 384 or 512, or EdDSA)"));
    }
  }
  const bool insecure_ok = r.Bool("disable_jwk_security").value_or(false);
  const bool cache = r.Bool("cache").value_or(false);
  if (auto seconds = r.Int("cache_duration", 1, int64_t{365} * 86400)) {
    c->cache_duration = absl::Seconds(*seconds);
  }
  if (auto cooldown = r.Duration("failed_jwk_key_cooldown")) {
    c->cooldown = std::max(*cooldown, absl::Seconds(1));
  }
  // Fail closed on what Sluice cannot honour: each of these changes which keys are trusted.
  for (const char* key : {"secret_url", "cypher_key"}) {
    if (r.Has(key)) r.Error(key, "encrypted JWK files are not implemented by Sluice");
  }
  if (auto strategy = r.String("key_identify_strategy")) {
    if (*strategy == "kid") {
      c->key_identify = KeyIdentify::kKid;
    } else if (*strategy == "x5t") {
      c->key_identify = KeyIdentify::kX5t;
    } else if (*strategy == "x5t#S256") {
      c->key_identify = KeyIdentify::kX5tS256;
    } else if (*strategy == "kid_x5t") {
      c->key_identify = KeyIdentify::kKidX5t;
    } else {
      r.Error("key_identify_strategy",
              absl::StrCat(Quote(*strategy), ": use kid, x5t, x5t#S256 or kid_x5t"));
    }
  }

  const std::optional<std::string> local = r.String("jwk_local_path");
  const std::optional<std::string> url = r.String("jwk_url");
  if (local && !local->empty()) {
    if (cache) r.Error("cache", "cannot be used with jwk_local_path (KrakenD refuses it too)");
    if (auto set = ReadKeySetFile(*local); set.ok()) {
      c->local_keys = std::move(*set);
    } else {
      r.Error("jwk_local_path", std::string(set.status().message()));
    }
    if (!insecure_ok) {
      c->refuse_all = "jwk_local_path without disable_jwk_security: true";
    }
  } else if (url && !url->empty()) {
    c->jwk_url = *url;
    const std::optional<HttpUrl> parsed = ParseHttpUrl(*url);
    if (!parsed) {
      r.Error("jwk_url", absl::StrCat(Quote(*url), " is not an http:// or https:// URL"));
    } else if (parsed->https) {
      ReadJwkTls(r, insecure_ok, &c->jwk_tls);
    } else if (!insecure_ok) {
      c->refuse_all = "an http:// jwk_url without disable_jwk_security: true";
    }
  } else {
    r.Error("", "needs jwk_url or jwk_local_path: without keys no token can be checked");
  }
  if (!c->refuse_all.empty()) {
    r.Warn("disable_jwk_security",
           absl::StrCat("warning: ", c->refuse_all,
                        ": KrakenD answers 401 to every request of this endpoint, and so does "
                        "Sluice"));
  }
  if (c->jwk_tls.describe.empty()) {
    // Pins and a CA that cannot apply: refused rather than believed to protect something.
    if (auto pins = r.Strings("jwk_fingerprints"); pins && !pins->empty()) {
      r.Error("jwk_fingerprints", "certificate pins need an https:// jwk_url");
    }
    if (auto ca = r.String("jwk_local_ca"); ca && !ca->empty()) {
      r.Error("jwk_local_ca", "needs an https:// jwk_url");
    }
    if (r.Has("cipher_suites")) r.Lint("cipher_suites", "no effect without an https:// jwk_url");
  }

  if (auto v = r.Strings("audience")) c->audience = std::move(*v);
  if (auto v = r.String("issuer")) c->issuer = std::move(*v);
  if (auto v = r.Strings("roles")) c->roles = std::move(*v);
  if (auto v = r.String("roles_key"); v && !v->empty()) c->roles_key = std::move(*v);
  if (auto v = r.Bool("roles_key_is_nested")) c->roles_key_is_nested = *v;
  if (auto v = r.Strings("scopes")) c->scopes = std::move(*v);
  if (auto v = r.String("scopes_key")) c->scopes_key = std::move(*v);
  if (auto v = r.String("scopes_matcher")) {
    if (*v == "all") {
      c->scopes_match_all = true;
    } else if (*v != "any") {
      r.Error("scopes_matcher", absl::StrCat(Quote(*v), ": use any or all"));
    }
  }
  if (auto v = r.String("cookie_key"); v && !v->empty()) c->cookie_key = std::move(*v);
  if (auto v = r.String("auth_header_name"); v && !v->empty()) c->auth_header_name = std::move(*v);
  if (auto v = ReadPropagation(r)) c->propagate_claims = std::move(*v);
  if (auto v = r.Bool("propagate_claims_preserve_array")) c->propagate_claims_preserve_array = *v;
  if (auto v = r.Duration("leeway")) c->leeway = std::max(*v, absl::Seconds(1));
  if (auto v = r.Bool("operation_debug")) c->operation_debug = *v;
  return c;
}

const nlohmann::json* FindClaim(const nlohmann::json& claims, const std::string& name,
                                bool nested) {
  if (!nested || absl::StartsWith(name, "http")) {
    auto it = claims.find(name);
    return it == claims.end() ? nullptr : &*it;
  }
  const nlohmann::json* at = &claims;
  for (absl::string_view part : absl::StrSplit(name, '.')) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(std::string(part));
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::string RenderClaim(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) {
    const double d = value.get<double>();
    if (value.is_number_integer()) return value.dump();
    if (std::fabs(d - std::round(d)) < 1e-6 && std::fabs(d) < 9.2e18) {
      return std::to_string(static_cast<int64_t>(std::round(d)));
    }
    char text[64];
    std::snprintf(text, sizeof(text), "%f", d);
    return text;
  }
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ',';
      out += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return out;
  }
  return value.dump();  // bool, null, object (keys sorted)
}

ValidatorStage::Outcome ValidatorStage::Check(pipeline::RequestContext& ctx, const KeySet* keys,
                                              std::string* why) const {
  const ValidatorConfig& c = config_;
  const std::string_view compact = TokenOf(ctx.request(), c);
  if (compact.empty()) {
    *why = "no token";
    return Outcome::kUnauthorized;
  }
  const double now = UnixSeconds();
  const double leeway = absl::ToDoubleSeconds(c.leeway);
  if (!caches_.empty()) {
    // Verified before with this very key set: only its expiry can have changed.
    const TokenCache& cache = caches_[static_cast<size_t>(ctx.call.worker) % caches_.size()];
    auto hit = cache.entries.find(absl::string_view(compact.data(), compact.size()));
    if (hit != cache.entries.end() && keys != nullptr && hit->second.keys == keys->id &&
        hit->second.exp >= now - leeway) {
      Apply(ctx, *hit->second.claims);
      return Outcome::kValid;
    }
  }
  std::optional<Token> token = DecodeToken(compact, why);
  if (!token) return Outcome::kUnauthorized;
  if (token->alg != c.alg) {
    *why = absl::StrCat("token signed with ", Name(token->alg), ", not ", Name(c.alg));
    return Outcome::kUnauthorized;
  }
  const Key* key = keys == nullptr ? nullptr : keys->Match(c.key_identify, *token);
  if (key == nullptr) {
    *why = absl::StrCat("no key with kid ", Quote(token->kid));
    return Outcome::kUnknownKey;
  }
  if (!key->Verify(token->alg, token->signing_input, token->signature)) {
    *why = key->Fits(token->alg)
               ? "bad signature"
               : absl::StrCat("key ", Quote(token->kid), " is not for ", Name(token->alg));
    return Outcome::kUnauthorized;
  }
  const nlohmann::json& claims = token->claims;
  std::optional<double> exp, nbf, iat;
  if (!TimeClaim(claims, "exp", &exp) || !TimeClaim(claims, "nbf", &nbf) ||
      !TimeClaim(claims, "iat", &iat)) {
    *why = "exp, nbf or iat is not a number";
    return Outcome::kUnauthorized;
  }
  if (exp && *exp < now - leeway) {
    *why = "expired";
    return Outcome::kUnauthorized;
  }
  if ((nbf && *nbf > now + leeway) || (iat && *iat > now + leeway)) {
    *why = "not valid yet (nbf or iat in the future)";
    return Outcome::kUnauthorized;
  }
  if (!c.issuer.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || *iss != c.issuer) {
      *why = "issuer mismatch";
      return Outcome::kUnauthorized;
    }
  }
  if (!c.audience.empty()) {
    auto aud_it = claims.find("aud");
    std::vector<std::string_view> aud;
    if (aud_it != claims.end()) {
      if (aud_it->is_string()) {
        aud.push_back(aud_it->get_ref<const std::string&>());
      } else {
        aud = Values(&*aud_it);
      }
    }
    for (const std::string& want : c.audience) {
      if (!Contains(aud, want)) {
        *why = absl::StrCat("audience ", Quote(want), " missing");
        return Outcome::kUnauthorized;
      }
    }
  }
  if (!c.roles.empty()) {
    const std::vector<std::string_view> have =
        Values(FindClaim(claims, c.roles_key, c.roles_key_is_nested));
    bool any = false;
    for (const std::string& role : c.roles) any = any || Contains(have, role);
    if (!any) {
      *why = "none of the roles";
      return Outcome::kForbidden;
    }
  }
  if (!c.scopes.empty() && !c.scopes_key.empty()) {
    const std::vector<std::string_view> have = Values(FindClaim(claims, c.scopes_key, true));
    size_t matched = 0;
    for (const std::string& scope : c.scopes) matched += Contains(have, scope) ? 1 : 0;
    if (c.scopes_match_all ? matched != c.scopes.size() : matched == 0) {
      *why = c.scopes_match_all ? "not all of the scopes" : "none of the scopes";
      return Outcome::kForbidden;
    }
  }
  const double exp_at = exp ? *exp : std::numeric_limits<double>::infinity();
  auto shared = std::make_shared<const nlohmann::json>(std::move(token->claims));
  Remember(ctx.call.worker, compact, keys, exp_at, shared);
  Apply(ctx, *shared);
  return Outcome::kValid;
}

void ValidatorStage::Apply(pipeline::RequestContext& ctx, const nlohmann::json& claims) const {
  const ValidatorConfig& c = config_;
  // {JWT.claim} in url_pattern: the top-level claim of exactly that name (no nesting). A
  // missing one leaves KrakenD's internal placeholder, percent-encoded like any param value.
  for (const auto& [placeholder, claim] : url_claims_) {
    auto it = claims.find(claim);
    ctx.params.emplace_back(placeholder, it == claims.end() ? absl::StrCat("{{.", placeholder, "}}")
                                                            : RenderClaim(*it));
  }
  http::Request& req = ctx.exchange->mutable_request();
  for (const auto& [claim, header] : c.propagate_claims) {
    const nlohmann::json* value = FindClaim(claims, claim, true);
    req.erase(Bv(header));  // set, never appended to what the client sent
    if (value != nullptr && value->is_array() && c.propagate_claims_preserve_array) {
      for (const auto& item : *value) req.insert(Bv(header), RenderClaim(item));
    } else {
      req.insert(Bv(header), value == nullptr ? std::string() : RenderClaim(*value));
    }
  }
}

void ValidatorStage::Remember(int worker, std::string_view token, const KeySet* keys, double exp,
                              std::shared_ptr<const nlohmann::json> claims) const {
  if (caches_.empty() || token.size() > kMaxCachedToken) return;
  TokenCache& cache = caches_[static_cast<size_t>(worker) % caches_.size()];
  if (cache.entries.size() >= kMaxCachedTokens || cache.bytes + token.size() > kMaxCacheBytes) {
    // Full: start over (bounded, and cheap next to one signature check per entry).
    cache.entries.clear();
    cache.bytes = 0;
  }
  auto [it, inserted] = cache.entries.try_emplace(absl::string_view(token.data(), token.size()),
                                                  CachedToken{keys->id, exp, std::move(claims)});
  if (inserted) cache.bytes += token.size();
}

StageResult ValidatorStage::Finish(pipeline::RequestContext& ctx, Outcome outcome,
                                   const std::string& why) const {
  if (outcome == Outcome::kValid) return StageResult::kContinue;
  const bool forbidden = outcome == Outcome::kForbidden;
  if (config_.operation_debug) {
    log::Error("[{}] auth/validator: {} {}: {}", ctx.request_id, forbidden ? 403 : 401,
               Sv(ctx.request().target()), why);
  } else {
    log::Debug("[{}] auth/validator: {} {}: {}", ctx.request_id, forbidden ? 403 : 401,
               Sv(ctx.request().target()), why);
  }
  ctx.response.emplace(forbidden ? bhttp::status::forbidden : bhttp::status::unauthorized, 11);
  return StageResult::kRespond;
}

StageResult ValidatorStage::OnRequest(pipeline::RequestContext& ctx) const {
  if (!config_.refuse_all.empty()) return Finish(ctx, Outcome::kUnauthorized, config_.refuse_all);
  const KeySet* keys = config_.local_keys != nullptr ? config_.local_keys.get()
                       : remote_ != nullptr          ? remote_->Current()
                                                     : nullptr;
  std::string why;
  Outcome outcome = Check(ctx, keys, &why);
  if (outcome == Outcome::kUnknownKey && remote_ != nullptr) {
    // The provider may have rotated its keys: wait for a fetch (at most one per cooldown).
    auto self = ctx.shared_from_this();
    const bool waiting = remote_->Refresh(*ctx.call.ioc, keys, [this, self] {
      std::string why;
      Outcome outcome = Check(*self, remote_->Current(), &why);
      if (outcome == Outcome::kUnknownKey) outcome = Outcome::kUnauthorized;
      self->Resume(Finish(*self, outcome, why));
    });
    if (waiting) return StageResult::kPending;
  }
  if (outcome == Outcome::kUnknownKey) outcome = Outcome::kUnauthorized;
  return Finish(ctx, outcome, why);
}

}  // namespace sluice::components::auth
