// JWK parsing edge cases of auth/validator's JOSE code that the end-to-end tests (tokens from
// PyJWT) do not reach: EC coordinates written without their leading zero bytes, and sets that
// must be refused whole.

#include "gateway/components/auth/validator/jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::components::auth {
namespace {

std::string Bytes(const BIGNUM* n) {
  std::string out(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(out.data()));
  return out;  // minimal big-endian: no leading zero bytes
}

// A P-256 key whose x coordinate is shorter than 32 bytes (about one key in 256), as a private
// JWK with x written minimally, the way PyJWT before 2.8 writes it.
nlohmann::json ShortCoordinateKey() {
  for (int attempt = 0; attempt < 20000; ++attempt) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    BIGNUM *x = nullptr, *y = nullptr, *d = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d);
    nlohmann::json jwk;
    if (BN_num_bytes(x) < 32) {
      jwk = {{"kty", "EC"},
             {"crv", "P-256"},
             {"kid", "short"},
             {"x", Base64UrlEncode(Bytes(x))},
             {"y", Base64UrlEncode(Bytes(y))},
             {"d", Base64UrlEncode(Bytes(d))}};
    }
    BN_free(x);
    BN_free(y);
    BN_free(d);
    EVP_PKEY_free(key);
    if (!jwk.is_null()) return jwk;
  }
  return nullptr;
}

TEST(JoseTest, ShortEcCoordinatesArePaddedAndStillVerify) {
  nlohmann::json jwk = ShortCoordinateKey();
  ASSERT_FALSE(jwk.is_null()) << "no key with a short x in 20000 tries";
  std::string x;
  ASSERT_TRUE(Base64UrlDecode(jwk["x"].get<std::string>(), &x));
  ASSERT_LT(x.size(), 32u);
  auto keys = ParseKeySet(nlohmann::json({{"keys", {jwk}}}).dump(), /*private_keys=*/true);
  ASSERT_TRUE(keys.ok()) << keys.status();
  const Key* key = (*keys)->Find("short");
  ASSERT_NE(key, nullptr);
  const std::string input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";
  std::optional<std::string> signature = key->Sign(Alg::kES256, input);
  ASSERT_TRUE(signature.has_value());
  EXPECT_EQ(signature->size(), 64u);  // r || s, 32 bytes each
  // The public half alone, as a validator's set has it.
  jwk.erase("d");
  auto public_keys = ParseKeySet(nlohmann::json({{"keys", {jwk}}}).dump());
  ASSERT_TRUE(public_keys.ok()) << public_keys.status();
  EXPECT_TRUE((*public_keys)->Find("short")->Verify(Alg::kES256, input, *signature));
  EXPECT_FALSE((*public_keys)->Find("short")->Verify(Alg::kES256, input + "x", *signature));
  EXPECT_FALSE((*public_keys)->Find("short")->Verify(Alg::kHS256, input, *signature));
}

TEST(JoseTest, ASetWithOneUnusableKeyIsRefusedWhole) {
  const char* bad_sets[] = {
      R"({"keys": []})",
      R"({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "XYZ"}]})",
      R"({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]})",  // not on curve
      R"({"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]})",
      R"({"keys": [{"kty": "OKP", "crv": "X25519", "x": "AA"}]})",
      R"({"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]})",
      R"({"keys": "no"})",
      R"([1, 2])",
  };
  for (const char* set : bad_sets) {
    EXPECT_FALSE(ParseKeySet(set).ok()) << set;
  }
}

TEST(JoseTest, NoneAndUnknownAlgorithmsDoNotParse) {
  EXPECT_FALSE(ParseAlg("none").has_value());
  EXPECT_FALSE(ParseAlg("RS1").has_value());
  EXPECT_FALSE(ParseAlg("rs256").has_value());
  ASSERT_TRUE(ParseAlg("EdDSA").has_value());
  EXPECT_EQ(AlgName(*ParseAlg("PS384")), "PS384");
  std::string why;
  // {"alg":"none"}.{}.
  EXPECT_FALSE(DecodeToken("eyJhbGciOiJub25lIn0.e30.", &why).has_value());
  EXPECT_NE(why.find("none"), std::string::npos) << why;
}

}  // namespace
}  // namespace sluice::components::auth
