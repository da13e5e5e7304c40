// The config loader (`sluice check`'s parse: JSON, KrakenD's loose types, every component's
// keys) on any bytes: an error list or a config, never a crash.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/components/registry.h"

namespace {

std::optional<std::string> NoEnv(const char*) { return std::nullopt; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sluice::components::ParseConfig(bytes, "fuzz.json", &NoEnv);
  sluice::components::ParseConfig(bytes, "fuzz.json", &NoEnv,
                                  sluice::components::Unprotected::kAllow);
  return 0;
}
