// Differential: the direct JSON render (one pass over the bytes) against the tree it stands in
// for. The input is up to three backend bodies separated by 0xFF (never valid inside JSON), the
// first byte choosing which are wrapped under a `group`. Whenever the direct pass renders a body,
// the tree must accept it too and render the same bytes; when it renders every body, the merge
// of the rendered answers (MergeRenderedObjects, groups by WrapRenderedObject) must equal the
// tree's merge (later bodies win a key) rendered by RenderJson. A body the direct pass declines
// is the tree's to decide, so nothing is asserted about it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/encoding/json.h"
#include "nlohmann/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t groups = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> bodies;
  while (bodies.size() < 3) {
    const size_t cut = rest.find('\xFF');
    bodies.push_back(rest.substr(0, cut));
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 1);
  }
  std::vector<std::string> rendered;
  nlohmann::json merged = nlohmann::json::object();
  for (size_t i = 0; i < bodies.size(); ++i) {
    std::string direct;
    if (!sluice::encoding::RenderJsonObjectDirect(bodies[i], &direct)) return 0;
    auto tree = sluice::encoding::DecodeJson(bodies[i], false);
    if (!tree.ok() || sluice::encoding::RenderJson(*tree) != direct) __builtin_trap();
    // Bits 0-2: which bodies are grouped; bits 3-4: under which name (escapes, UTF-8, a key the
    // bodies may hold too).
    static const char* const kGroups[] = {"g\"", "\xC3\xA9", "a\\b\x01", "k"};
    const std::string group = (groups & 1u << i) != 0 ? kGroups[(groups >> 3) & 3] : "";
    if (!group.empty()) {
      direct = sluice::encoding::WrapRenderedObject(group, direct);
      *tree = nlohmann::json{{group, std::move(*tree)}};
    }
    rendered.push_back(std::move(direct));
    for (auto& [key, value] : tree->items()) merged[key] = std::move(value);
  }
  const std::vector<std::string_view> views(rendered.begin(), rendered.end());
  if (sluice::encoding::MergeRenderedObjects(views) != sluice::encoding::RenderJson(merged)) {
    __builtin_trap();
  }
  return 0;
}
