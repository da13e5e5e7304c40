#include "gateway/components/auth/validator/jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <atomic>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"
#include "gateway/encoding/json.h"

namespace sluice::components::auth {

namespace {

struct AlgInfo {
  Alg alg;
  std::string_view name;
};
constexpr AlgInfo kAlgs[] = {
    {Alg::kHS256, "HS256"}, {Alg::kHS384, "HS384"}, {Alg::kHS512, "HS512"}, {Alg::kRS256, "RS256"},
    {Alg::kRS384, "RS384"}, {Alg::kRS512, "RS512"}, {Alg::kPS256, "PS256"}, {Alg::kPS384, "PS384"},
    {Alg::kPS512, "PS512"}, {Alg::kES256, "ES256"}, {Alg::kES384, "ES384"}, {Alg::kES512, "ES512"},
    {Alg::kEdDSA, "EdDSA"},
};

// The hash of an algorithm's family member (256/384/512); nullptr for EdDSA (no pre-hash).
const EVP_MD* Digest(Alg alg) {
  switch (alg) {
    case Alg::kHS256:
    case Alg::kRS256:
    case Alg::kPS256:
    case Alg::kES256:
      return EVP_sha256();
    case Alg::kHS384:
    case Alg::kRS384:
    case Alg::kPS384:
    case Alg::kES384:
      return EVP_sha384();
    case Alg::kHS512:
    case Alg::kRS512:
    case Alg::kPS512:
    case Alg::kES512:
      return EVP_sha512();
    case Alg::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

bool IsHs(Alg a) { return a == Alg::kHS256 || a == Alg::kHS384 || a == Alg::kHS512; }
bool IsRs(Alg a) { return a == Alg::kRS256 || a == Alg::kRS384 || a == Alg::kRS512; }
bool IsPs(Alg a) { return a == Alg::kPS256 || a == Alg::kPS384 || a == Alg::kPS512; }

// ES256 signs on P-256, ES384 on P-384, ES512 on P-521 (RFC 7518 3.4).
std::string_view CurveOf(Alg a) {
  switch (a) {
    case Alg::kES256:
      return "P-256";
    case Alg::kES384:
      return "P-384";
    case Alg::kES512:
      return "P-521";
    default:
      return "";
  }
}

struct Curve {
  std::string_view jwk_name;
  const char* openssl_name;
  size_t bytes;  // of a coordinate, and of r and s in a JWS signature
};
constexpr Curve kCurves[] = {
    {"P-256", "prime256v1", 32}, {"P-384", "secp384r1", 48}, {"P-521", "secp521r1", 66}};

const Curve* FindCurve(std::string_view name) {
  for (const Curve& c : kCurves) {
    if (c.jwk_name == name) return &c;
  }
  return nullptr;
}

template <typename T, void (*kFree)(T*)>
struct Deleter {
  void operator()(T* p) const { kFree(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, &EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, &EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, &EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, &BN_free>>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, &OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, &OSSL_PARAM_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, &ECDSA_SIG_free>>;

// A public key from OpenSSL parameters built by `fill`; checked (an EC point must lie on its
// curve). nullptr when OpenSSL refuses it.
template <typename Fill>
PkeyPtr FromParams(const char* type, Fill fill, int selection = EVP_PKEY_PUBLIC_KEY) {
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !fill(bld.get())) return nullptr;
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    return nullptr;
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  if (selection == EVP_PKEY_KEYPAIR && EVP_PKEY_pairwise_check(check.get()) != 1) return nullptr;
  return pkey;
}

// A member of a JWK that must be a base64url string.
bool Member(const nlohmann::json& jwk, const char* name, std::string* out, std::string* why) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    *why = absl::StrCat("\"", name, "\" is missing or not a string");
    return false;
  }
  if (!Base64UrlDecode(it->get_ref<const std::string&>(), out) || out->empty()) {
    *why = absl::StrCat("\"", name, "\" is not base64url");
    return false;
  }
  return true;
}

// A BIGNUM from a base64url member.
BnPtr BigNum(const nlohmann::json& jwk, const char* name, std::string* why) {
  std::string bytes;
  if (!Member(jwk, name, &bytes, why)) return nullptr;
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

std::optional<Key> ParseKey(const nlohmann::json& jwk, bool want_private, std::string* why);

// base64url of a digest of `der`.
std::string Thumbprint(const EVP_MD* md, std::string_view der) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), digest, &len, md, nullptr);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace

// The key material of ParseKey, then its X.509 thumbprints.
std::optional<Key> ParseJwk(const nlohmann::json& jwk, bool want_private, std::string* why) {
  std::optional<Key> key = ParseKey(jwk, want_private, why);
  if (!key) return key;
  std::string der;
  if (auto x5c = jwk.find("x5c"); x5c != jwk.end()) {
    // Standard base64 (RFC 7517 4.7), not base64url.
    if (!x5c->is_array() || x5c->empty() || !(*x5c)[0].is_string() ||
        !absl::Base64Unescape((*x5c)[0].get_ref<const std::string&>(), &der) || der.empty()) {
      *why = "\"x5c\" is not an array of base64 certificates";
      return std::nullopt;
    }
  }
  for (const auto& [member, md, out] : {std::tuple{"x5t", EVP_sha1(), &key->x5t_},
                                        std::tuple{"x5t#S256", EVP_sha256(), &key->x5t_s256_}}) {
    const std::string computed = der.empty() ? std::string() : Thumbprint(md, der);
    auto it = jwk.find(member);
    if (it != jwk.end() && it->is_string()) {
      *out = it->get<std::string>();
      if (!computed.empty() && computed != *out) {
        *why = absl::StrCat("\"", member, "\" does not match the certificate in \"x5c\"");
        return std::nullopt;
      }
    } else {
      *out = computed;
    }
  }
  return key;
}

namespace {

std::optional<Key> ParseKey(const nlohmann::json& jwk, bool want_private, std::string* why) {
  if (!jwk.is_object()) {
    *why = "not an object";
    return std::nullopt;
  }
  std::string kid;
  if (auto it = jwk.find("kid"); it != jwk.end() && it->is_string()) kid = it->get<std::string>();
  auto kty_it = jwk.find("kty");
  const std::string kty =
      kty_it != jwk.end() && kty_it->is_string() ? kty_it->get<std::string>() : std::string();
  if (kty == "RSA") {
    std::string n, e;
    if (!Member(jwk, "n", &n, why) || !Member(jwk, "e", &e, why)) return std::nullopt;
    BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                         static_cast<int>(n.size()), nullptr));
    BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                         static_cast<int>(e.size()), nullptr));
    // A private key: d and the CRT members (RFC 7518 6.3.2), all of them.
    constexpr std::pair<const char*, const char*> kPrivate[] = {
        {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
        {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
        {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
    std::vector<BnPtr> private_parts;
    if (want_private) {
      for (const auto& [member, param] : kPrivate) {
        private_parts.push_back(BigNum(jwk, member, why));
        if (!private_parts.back()) return std::nullopt;
      }
    }
    PkeyPtr pkey = FromParams(
        "RSA",
        [&](OSSL_PARAM_BLD* b) {
          bool ok = bn_n && bn_e &&
                    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
                    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1;
          for (size_t i = 0; ok && i < private_parts.size(); ++i) {
            ok = OSSL_PARAM_BLD_push_BN(b, kPrivate[i].second, private_parts[i].get()) == 1;
          }
          return ok;
        },
        want_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!pkey) {
      *why = want_private ? "not a valid RSA private key" : "not a valid RSA public key";
      return std::nullopt;
    }
    return Key(std::move(kid), Key::Type::kRsa, "", pkey.release(), "");
  }
  if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    const Curve* curve = FindCurve(crv);
    if (curve == nullptr) {
      *why = absl::StrCat("unknown EC curve \"", crv, "\" (P-256, P-384, P-521)");
      return std::nullopt;
    }
    std::string x, y;
    if (!Member(jwk, "x", &x, why) || !Member(jwk, "y", &y, why)) return std::nullopt;
    // RFC 7518 6.2.1.2 wants the full coordinate size; PyJWT before 2.8 drops leading zero
    // bytes (half of all P-521 keys). Shorter coordinates are padded (the point is still checked
    // on the curve below); longer ones are refused.
    if (x.size() > curve->bytes || y.size() > curve->bytes) {
      *why = absl::StrCat("x and y must be ", curve->bytes, " bytes each on ", crv);
      return std::nullopt;
    }
    x.insert(0, curve->bytes - x.size(), '\0');
    y.insert(0, curve->bytes - y.size(), '\0');
    const std::string point = absl::StrCat("\x04", x, y);  // uncompressed (SEC 1 2.3.3)
    BnPtr d = want_private ? BigNum(jwk, "d", why) : nullptr;
    if (want_private && !d) return std::nullopt;
    PkeyPtr pkey = FromParams(
        "EC",
        [&](OSSL_PARAM_BLD* b) {
          return OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl_name,
                                                 0) == 1 &&
                 OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                                  point.size()) == 1 &&
                 (!d || OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d.get()) == 1);
        },
        want_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!pkey) {
      *why = absl::StrCat("not a point on ", crv);
      return std::nullopt;
    }
    return Key(std::move(kid), Key::Type::kEc, crv, pkey.release(), "");
  }
  if (kty == "OKP") {
    const std::string crv = jwk.value("crv", "");
    if (crv != "Ed25519") {
      *why = absl::StrCat("unknown OKP curve \"", crv, "\" (Ed25519)");
      return std::nullopt;
    }
    std::string x;
    if (!Member(jwk, want_private ? "d" : "x", &x, why)) return std::nullopt;
    const auto* raw_bytes = reinterpret_cast<const unsigned char*>(x.data());
    EVP_PKEY* raw =
        want_private ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw_bytes, x.size())
                     : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw_bytes, x.size());
    if (raw == nullptr) {
      *why = "not an Ed25519 public key (32 bytes)";
      return std::nullopt;
    }
    return Key(std::move(kid), Key::Type::kOkp, crv, raw, "");
  }
  if (kty == "oct") {
    std::string k;
    if (!Member(jwk, "k", &k, why)) return std::nullopt;
    return Key(std::move(kid), Key::Type::kOct, "", nullptr, std::move(k));
  }
  *why = absl::StrCat("unknown kty \"", kty, "\" (RSA, EC, OKP, oct)");
  return std::nullopt;
}

// JWS ES signatures are r || s, each the curve's size; OpenSSL wants DER.
bool EcdsaDer(std::string_view raw, size_t half, std::string* der) {
  if (raw.size() != 2 * half) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  SigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(p + half, static_cast<int>(half), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der->resize(static_cast<size_t>(len));
  auto* out = reinterpret_cast<unsigned char*>(der->data());
  return i2d_ECDSA_SIG(sig.get(), &out) == len;
}

}  // namespace

std::optional<Alg> ParseAlg(std::string_view name) {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == name) return a.alg;
  }
  return std::nullopt;
}

std::string_view AlgName(Alg alg) {
  for (const AlgInfo& a : kAlgs) {
    if (a.alg == alg) return a.name;
  }
  return "";
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(in.data(), in.size()), &out);
  return out;
}

bool Base64UrlDecode(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  for (char c : in) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return absl::WebSafeBase64Unescape(absl::string_view(in.data(), in.size()), out);
}

Key::Key(std::string kid, Type type, std::string curve, evp_pkey_st* pkey, std::string secret)
    : kid_(std::move(kid)),
      type_(type),
      curve_(std::move(curve)),
      pkey_(pkey),
      secret_(std::move(secret)) {}

Key::~Key() {
  if (pkey_ != nullptr) EVP_PKEY_free(pkey_);
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

Key::Key(Key&& other) noexcept
    : kid_(std::move(other.kid_)),
      type_(other.type_),
      curve_(std::move(other.curve_)),
      pkey_(std::exchange(other.pkey_, nullptr)),
      secret_(std::move(other.secret_)),
      x5t_(std::move(other.x5t_)),
      x5t_s256_(std::move(other.x5t_s256_)) {}

bool Key::Fits(Alg alg) const {
  switch (type_) {
    case Type::kOct:
      return IsHs(alg);
    case Type::kRsa:
      return IsRs(alg) || IsPs(alg);
    case Type::kEc:
      return CurveOf(alg) == curve_;
    case Type::kOkp:
      return alg == Alg::kEdDSA;
  }
  return false;
}

std::optional<std::string> Key::Hmac(Alg alg, std::string_view input) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(Digest(alg), secret_.data(), static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &mac_len) == nullptr) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

namespace {

// An EVP digest context set up to sign or verify with `pkey` for `alg` (PS: PSS padding with a
// salt as long as the digest), or nullptr.
MdCtxPtr DigestContext(bool sign, Alg alg, EVP_PKEY* pkey) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return nullptr;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const int init = sign ? EVP_DigestSignInit(ctx.get(), &pctx, Digest(alg), nullptr, pkey)
                        : EVP_DigestVerifyInit(ctx.get(), &pctx, Digest(alg), nullptr, pkey);
  if (init != 1) return nullptr;
  if (IsPs(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return nullptr;
  }
  return ctx;
}

}  // namespace

bool Key::Verify(Alg alg, std::string_view input, std::string_view signature) const {
  if (!Fits(alg)) return false;
  if (type_ == Type::kOct) {
    std::optional<std::string> mac = Hmac(alg, input);
    return mac && signature.size() == mac->size() &&
           CRYPTO_memcmp(mac->data(), signature.data(), mac->size()) == 0;
  }
  std::string der;
  if (type_ == Type::kEc) {
    const Curve* curve = FindCurve(curve_);
    if (curve == nullptr || !EcdsaDer(signature, curve->bytes, &der)) return false;
    signature = der;
  }
  MdCtxPtr ctx = DigestContext(/*sign=*/false, alg, pkey_);
  return ctx &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

std::optional<std::string> Key::Sign(Alg alg, std::string_view input) const {
  if (!Fits(alg)) return std::nullopt;
  if (type_ == Type::kOct) return Hmac(alg, input);
  MdCtxPtr ctx = DigestContext(/*sign=*/true, alg, pkey_);
  if (!ctx) return std::nullopt;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) return std::nullopt;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1) {
    return std::nullopt;
  }
  sig.resize(len);
  if (type_ != Type::kEc) return sig;
  // DER ECDSA-Sig-Value -> r || s, each the curve's size (RFC 7518 3.4).
  const Curve* curve = FindCurve(curve_);
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  SigPtr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!parsed || curve == nullptr) return std::nullopt;
  std::string raw(2 * curve->bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), out, static_cast<int>(curve->bytes)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), out + curve->bytes,
                   static_cast<int>(curve->bytes)) < 0) {
    return std::nullopt;
  }
  return raw;
}

const Key* KeySet::Match(KeyIdentify how, const Token& token) const {
  auto by = [&](auto&& same) -> const Key* {
    for (const Key& k : keys) {
      if (same(k)) return &k;
    }
    return nullptr;
  };
  const Key* found = nullptr;
  switch (how) {
    case KeyIdentify::kKid:
      return Find(token.kid);
    case KeyIdentify::kX5t:
      if (!token.x5t.empty()) found = by([&](const Key& k) { return k.x5t() == token.x5t; });
      break;
    case KeyIdentify::kX5tS256:
      if (!token.x5t_s256.empty()) {
        found = by([&](const Key& k) { return k.x5t_s256() == token.x5t_s256; });
      }
      break;
    case KeyIdentify::kKidX5t:
      if (!token.x5t.empty()) {
        found = by([&](const Key& k) { return k.kid() == token.kid && k.x5t() == token.x5t; });
      }
      break;
  }
  return found != nullptr ? found : Find(token.kid);
}

const Key* KeySet::Find(std::string_view kid) const {
  for (const Key& k : keys) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<const KeySet>> ReadKeySetFile(const std::string& path,
                                                             bool private_keys) {
  absl::StatusOr<std::string> bytes = config::ReadRegularFile(path, kMaxKeySetBytes);
  absl::StatusOr<std::shared_ptr<const KeySet>> set =
      bytes.ok() ? ParseKeySet(*bytes, private_keys) : bytes.status();
  if (set.ok()) return set;
  return absl::Status(set.status().code(),
                      absl::StrCat("\"", path, "\": ", set.status().message()));
}

absl::StatusOr<std::shared_ptr<const KeySet>> ParseKeySet(std::string_view json,
                                                          bool private_keys) {
  absl::StatusOr<nlohmann::json> doc = encoding::ParseJson(json);
  if (!doc.ok())
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", doc.status().message()));
  auto keys = doc->is_object() ? doc->find("keys") : doc->end();
  if (!doc->is_object() || keys == doc->end() || !keys->is_array()) {
    return absl::InvalidArgumentError("not a JWK Set: no \"keys\" array");
  }
  if (keys->empty()) return absl::InvalidArgumentError("the JWK Set has no keys");
  static std::atomic<uint64_t> next_id{1};
  auto set = std::make_shared<KeySet>();
  set->id = next_id.fetch_add(1, std::memory_order_relaxed);
  set->keys.reserve(keys->size());
  for (size_t i = 0; i < keys->size(); ++i) {
    std::string why;
    std::optional<Key> key = ParseJwk((*keys)[i], private_keys, &why);
    if (!key) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys[", i, private_keys ? "] is not a usable private key: " : "]: ", why));
    }
    set->keys.push_back(std::move(*key));
  }
  return set;
}

std::optional<Token> DecodeToken(std::string_view compact, std::string* why) {
  const size_t dot1 = compact.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos) {
    *why = "not a compact JWS (three dot-separated parts)";
    return std::nullopt;
  }
  std::string header_json, payload_json;
  Token t;
  if (!Base64UrlDecode(compact.substr(0, dot1), &header_json) ||
      !Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1), &payload_json) ||
      !Base64UrlDecode(compact.substr(dot2 + 1), &t.signature)) {
    *why = "a part is not base64url";
    return std::nullopt;
  }
  absl::StatusOr<nlohmann::json> header = encoding::ParseClientJson(header_json);
  if (!header.ok() || !header->is_object()) {
    *why = "the header is not a JSON object";
    return std::nullopt;
  }
  auto alg = header->find("alg");
  std::optional<Alg> parsed = alg != header->end() && alg->is_string()
                                  ? ParseAlg(alg->get_ref<const std::string&>())
                                  : std::nullopt;
  if (!parsed) {
    *why = "the header's alg is missing, none or unknown";
    return std::nullopt;
  }
  // "crit" names extensions the verifier must understand (RFC 7515 4.1.11): none here.
  if (header->contains("crit")) {
    *why = "the header has crit extensions";
    return std::nullopt;
  }
  t.alg = *parsed;
  if (auto kid = header->find("kid"); kid != header->end() && kid->is_string()) {
    t.kid = kid->get<std::string>();
  }
  if (auto x5t = header->find("x5t"); x5t != header->end() && x5t->is_string()) {
    t.x5t = x5t->get<std::string>();
  }
  if (auto x5t = header->find("x5t#S256"); x5t != header->end() && x5t->is_string()) {
    t.x5t_s256 = x5t->get<std::string>();
  }
  absl::StatusOr<nlohmann::json> claims = encoding::ParseClientJson(payload_json);
  if (!claims.ok() || !claims->is_object()) {
    *why = "the payload is not a JSON object";
    return std::nullopt;
  }
  t.claims = std::move(*claims);
  t.signing_input = compact.substr(0, dot2);
  return t;
}

}  // namespace sluice::components::auth
