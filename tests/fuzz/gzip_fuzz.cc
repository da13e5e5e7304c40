// Backend gzip bodies: decompression with the answer-size cap, on any bytes (truncated streams,
// concatenated members, bombs) ends with the body or an error, within the cap.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/backend/rest/client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::string out;
  constexpr uint64_t kLimit = 1 << 20;
  const std::string error = sluice::backend::rest::Gunzip(in, kLimit, &out);
  if (error.empty() && out.size() > kLimit) std::abort();  // the cap must hold
  return 0;
}
