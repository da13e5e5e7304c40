#pragma once

// KrakenD's `auth/signer` (endpoint level; v2 `github.com/devopsfaith/krakend-jose/signer`): the
// listed top-level fields of the endpoint's answer that hold JSON objects are replaced by JWTs
// signing them (the object's JSON, keys sorted, is the payload; header alg, kid, typ "JWT"), with
// the private key `kid` of the JWK Set in `jwk_local_path`. `full` gives the JWS JSON
// serialization instead of the compact one. No data to sign, or a signing failure: 400, empty.
//
// Where KrakenD would answer 401 until a restart (the key is missing from the set) Sluice's
// `check` refuses the file; a local set without disable_jwk_security answers 401 to everything
// as in KrakenD, with a check warning. Fetching private keys from `jwk_url` is not implemented
// and refuses the file.

#include <memory>
#include <string>
#include <vector>

#include "gateway/components/auth/validator/jose.h"
#include "gateway/config/reader.h"
#include "gateway/pipeline/stage.h"

namespace sluice::components::auth {

inline constexpr std::string_view kSignerNamespace = "auth/signer";

struct SignerConfig : config::ComponentConfig {
  Alg alg = Alg::kRS256;
  std::string kid;
  std::vector<std::string> keys_to_sign;
  bool full = false;
  std::shared_ptr<const KeySet> keys;  // private keys
  const Key* key = nullptr;            // keys->Find(kid)
  std::string refuse_all;              // why every request gets 401 (as KrakenD)
  std::string protected_header;        // base64url of {"alg", "kid", "typ": "JWT"}
};

std::shared_ptr<const SignerConfig> ParseSigner(config::ObjectReader& reader);

// The JWS of `payload` (compact, or the JSON serialization with `full`); nullopt if signing fails.
std::optional<std::string> SignJws(const SignerConfig& config, const std::string& payload);

class SignerStage final : public pipeline::Stage {
 public:
  explicit SignerStage(const SignerConfig& config) : config_(config) {}
  std::string_view name() const override { return kSignerNamespace; }
  pipeline::StageResult OnRequest(pipeline::RequestContext& ctx) const override;
  void OnResponse(pipeline::RequestContext& ctx) const override;

 private:
  const SignerConfig& config_;  // owned by the service config, which outlives the stack
};

}  // namespace sluice::components::auth
