#include "gateway/components/auth/signer/signer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/logging.h"
#include "gateway/config/config.h"

namespace sluice::components::auth {

namespace {

namespace bhttp = boost::beast::http;

}  // namespace

std::shared_ptr<const SignerConfig> ParseSigner(config::ObjectReader& r) {
  r.CheckKeys({"alg", "kid", "keys_to_sign", "jwk_url", "jwk_local_path", "full",
               "disable_jwk_security", "jwk_fingerprints", "jwk_local_ca", "cipher_suites",
               "secret_url", "cypher_key", "leeway"});
  auto c = std::make_shared<SignerConfig>();
  if (auto alg = r.String("alg")) {
    if (auto parsed = ParseAlg(*alg)) {
      c->alg = *parsed;
    } else {
      r.Error("alg", absl::StrCat("unknown algorithm \"", *alg,
                                  "\" (HS, RS, PS, ES with 256, 384 or 512, or EdDSA)"));
    }
  } else if (!r.Has("alg")) {
    r.Error("alg", "is required: the algorithm to sign with");
  }
  if (auto kid = r.String("kid"); kid && !kid->empty()) {
    c->kid = *kid;
  } else {
    r.Error("kid", "is required: the key of the JWK Set to sign with");
  }
  if (auto keys = r.Strings("keys_to_sign"); keys && !keys->empty()) {
    c->keys_to_sign = std::move(*keys);
  } else {
    r.Error("keys_to_sign", "is required: the fields of the answer to sign");
  }
  if (auto full = r.Bool("full")) c->full = *full;
  for (const char* key : {"secret_url", "cypher_key"}) {
    if (r.Has(key)) r.Error(key, "encrypted JWK files are not implemented by Sluice");
  }
  for (const char* key : {"jwk_fingerprints", "jwk_local_ca"}) {
    if (r.Has(key)) r.Error(key, "needs https:// JWK URLs, not implemented yet");
  }
  if (r.Has("cipher_suites")) r.Lint("cipher_suites", "no effect without an https:// jwk_url");
  const bool insecure_ok = r.Bool("disable_jwk_security").value_or(false);
  const std::optional<std::string> local = r.String("jwk_local_path");
  if (local && !local->empty()) {
    absl::StatusOr<std::shared_ptr<const KeySet>> set =
        ReadKeySetFile(*local, /*private_keys=*/true);
    if (!set.ok()) {
      r.Error("jwk_local_path", std::string(set.status().message()));
    } else {
      c->keys = std::move(*set);
      c->key = c->keys->Find(c->kid);
      if (c->key == nullptr && !c->kid.empty()) {
        r.Error("kid", absl::StrCat("\"", c->kid, "\" is not in ", *local,
                                    " (KrakenD would answer 401 until restarted)"));
      } else if (c->key != nullptr && !c->key->Fits(c->alg)) {
        r.Error("alg",
                absl::StrCat("key \"", c->kid, "\" cannot sign ", std::string(AlgName(c->alg))));
      }
    }
    if (!insecure_ok) {
      c->refuse_all = "jwk_local_path without disable_jwk_security: true";
      r.Warn("disable_jwk_security",
             "warning: jwk_local_path without disable_jwk_security: true: KrakenD answers 401 "
             "to every request of this endpoint, and so does Sluice");
    }
  } else if (r.Has("jwk_url")) {
    r.Error("jwk_url", "fetching private keys is not implemented by Sluice; use jwk_local_path");
  } else {
    r.Error("", "needs jwk_local_path: the private keys to sign with");
  }
  const nlohmann::json header = {
      {"alg", std::string(AlgName(c->alg))}, {"kid", c->kid}, {"typ", "JWT"}};
  c->protected_header = Base64UrlEncode(header.dump());
  return c;
}

std::optional<std::string> SignJws(const SignerConfig& c, const std::string& payload) {
  const std::string encoded_payload = Base64UrlEncode(payload);
  const std::string input = absl::StrCat(c.protected_header, ".", encoded_payload);
  std::optional<std::string> signature = c.key->Sign(c.alg, input);
  if (!signature) return std::nullopt;
  if (!c.full) return absl::StrCat(input, ".", Base64UrlEncode(*signature));
  nlohmann::json full = {{"payload", encoded_payload},
                         {"protected", c.protected_header},
                         {"signature", Base64UrlEncode(*signature)}};
  return full.dump();
}

pipeline::StageResult SignerStage::OnRequest(pipeline::RequestContext& ctx) const {
  if (config_.refuse_all.empty() && config_.key != nullptr) return pipeline::StageResult::kContinue;
  ctx.response.emplace(bhttp::status::unauthorized, 11);
  return pipeline::StageResult::kRespond;
}

void SignerStage::OnResponse(pipeline::RequestContext& ctx) const {
  if (ctx.response) return;
  if (!ctx.has_data || !ctx.data.is_object()) {
    ctx.response.emplace(bhttp::status::bad_request, 11);
    return;
  }
  for (const std::string& key : config_.keys_to_sign) {
    auto it = ctx.data.find(key);
    if (it == ctx.data.end() || !it->is_object()) continue;
    std::optional<std::string> token = SignJws(config_, it->dump());
    if (!token) {
      log::Error("[{}] auth/signer: cannot sign \"{}\" with key \"{}\"", ctx.request_id, key,
                 config_.kid);
      ctx.response.emplace(bhttp::status::bad_request, 11);
      return;
    }
    *it = std::move(*token);
  }
}

}  // namespace sluice::components::auth
