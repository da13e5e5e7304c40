// JOSE parsing on any bytes: compact JWS decoding (header, claims, signature) and JWK Set
// parsing (public and private keys), as auth/validator and auth/signer read them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/components/auth/validator/jose.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string why;
  sluice::components::auth::DecodeToken(bytes, &why);
  auto public_keys = sluice::components::auth::ParseKeySet(bytes);
  auto private_keys = sluice::components::auth::ParseKeySet(bytes, /*private_keys=*/true);
  (void)public_keys;
  (void)private_keys;
  std::string decoded;
  sluice::components::auth::Base64UrlDecode(bytes, &decoded);
  return 0;
}
