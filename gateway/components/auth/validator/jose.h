#pragma once

// JSON Web Keys (RFC 7517) and compact JSON Web Signatures (RFC 7515) for auth/validator, over
// OpenSSL's EVP API: RS/PS/ES 256/384/512, EdDSA (Ed25519) and HS 256/384/512. A key is usable
// only with the algorithms of its type (an RSA key is never an HMAC secret), and `none` is not
// an algorithm here at all.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

struct evp_pkey_st;

namespace sluice::components::auth {

enum class Alg {
  kHS256,
  kHS384,
  kHS512,
  kRS256,
  kRS384,
  kRS512,
  kPS256,
  kPS384,
  kPS512,
  kES256,
  kES384,
  kES512,
  kEdDSA,
};

// "RS256" -> kRS256; nullopt for anything else, "none" included.
std::optional<Alg> ParseAlg(std::string_view name);
std::string_view AlgName(Alg alg);

// One verification key of a JWK Set.
class Key {
 public:
  enum class Type { kRsa, kEc, kOkp, kOct };

  Key(std::string kid, Type type, std::string curve, evp_pkey_st* pkey, std::string secret);
  ~Key();
  Key(Key&&) noexcept;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  Key& operator=(Key&&) = delete;

  const std::string& kid() const { return kid_; }
  // X.509 thumbprints (base64url SHA-1 and SHA-256 of the certificate's DER): the JWK's `x5t` and
  // `x5t#S256`, or computed from the first certificate of its `x5c`. Empty when it has neither.
  const std::string& x5t() const { return x5t_; }
  const std::string& x5t_s256() const { return x5t_s256_; }
  // True if a signature by `alg` may be checked with this key: RS/PS need RSA, ES256/384/512
  // need EC on P-256/P-384/P-521, EdDSA needs Ed25519, HS needs an `oct` secret.
  bool Fits(Alg alg) const;
  // Checks `signature` over `input` (a JWS signing input: header.payload, base64url).
  bool Verify(Alg alg, std::string_view input, std::string_view signature) const;
  // Signs `input` (a key parsed with its private part); the JWS signature bytes (ES: r || s).
  std::optional<std::string> Sign(Alg alg, std::string_view input) const;

 private:
  std::optional<std::string> Hmac(Alg alg, std::string_view input) const;  // oct keys

  friend std::optional<Key> ParseJwk(const nlohmann::json& jwk, bool want_private,
                                     std::string* why);
  std::string kid_;
  Type type_;
  std::string curve_;   // EC: P-256, P-384, P-521; OKP: Ed25519
  evp_pkey_st* pkey_;   // RSA, EC, OKP (owned)
  std::string secret_;  // oct
  std::string x5t_, x5t_s256_;
};

// How a token names its key (auth/validator `key_identify_strategy`): by `kid`, by the X.509
// thumbprint `x5t` or `x5t#S256` (falling back to `kid` when no key has it, as KrakenD), or by
// both `kid` and `x5t`.
enum class KeyIdentify { kKid, kX5t, kX5tS256, kKidX5t };

struct Token;

struct KeySet {
  // Unique per parsed set, for the lifetime of the process (an address may be reused).
  uint64_t id = 0;
  std::vector<Key> keys;
  // The key whose `kid` is `kid`; nullptr if none.
  const Key* Find(std::string_view kid) const;
  // The key `token` names by `how`; nullptr if none.
  const Key* Match(KeyIdentify how, const Token& token) const;
};

// Parses a JWK Set (`{"keys": [...]}`). A key this cannot use (an unknown `kty` or curve, a
// private-only or malformed key) fails the whole set, as KrakenD's loader does; the error says
// which key and why. An empty `keys` is an error too.
// A JWK Set is a few KiB; a file or an answer over this is broken or hostile.
inline constexpr uint64_t kMaxKeySetBytes = 1 << 20;

// With `private_keys`, every key must carry its private part (RSA: d and the CRT members; EC
// and OKP: d) and is checked against its public part; for signing (auth/signer).
absl::StatusOr<std::shared_ptr<const KeySet>> ParseKeySet(std::string_view json,
                                                          bool private_keys = false);

// ParseKeySet of a regular file of at most kMaxKeySetBytes; errors start with the quoted path.
absl::StatusOr<std::shared_ptr<const KeySet>> ReadKeySetFile(const std::string& path,
                                                             bool private_keys = false);

// A compact JWS split and decoded. Claims must be a JSON object.
struct Token {
  Alg alg;
  std::string kid;
  std::string x5t, x5t_s256;  // header thumbprints, when present
  nlohmann::json claims;
  std::string_view signing_input;  // into the string given to DecodeToken
  std::string signature;           // decoded
};

// Decodes `compact` (three base64url parts); `why` says what is wrong when it returns nullopt
// (an `alg` that is not one of ours, `none` included, fails here).
std::optional<Token> DecodeToken(std::string_view compact, std::string* why);

// base64url without padding (RFC 7515 section 2), as JWS writes it; also accepts padding.
bool Base64UrlDecode(std::string_view in, std::string* out);
std::string Base64UrlEncode(std::string_view in);

}  // namespace sluice::components::auth
