// Differential: RenderJsonObjectDirect (one pass over the bytes) against the tree it stands in
// for, RenderJson(DecodeJson(body)). Whenever the direct pass renders a body, the tree must
// accept it too and render the very same bytes; a body the direct pass declines is the tree's to
// decide, so nothing is asserted about it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/encoding/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string direct;
  if (!sluice::encoding::RenderJsonObjectDirect(body, &direct)) return 0;
  auto tree = sluice::encoding::DecodeJson(body, false);
  if (!tree.ok() || sluice::encoding::RenderJson(*tree) != direct) __builtin_trap();
  return 0;
}
