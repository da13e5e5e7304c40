// A backend answer through what a merging endpoint does to it: decoding by the backend's
// encoding (json, safejson, string, xml, rss; as a collection or not), shaping (target, allow,
// deny, mapping, group), a flatmap filter, and rendering in every output encoding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/config/config.h"
#include "gateway/encoding/decoders.h"
#include "gateway/encoding/renderers.h"
#include "gateway/shaping/flatmap.h"
#include "gateway/shaping/shaping.h"
#include "nlohmann/json.hpp"

namespace {

using sluice::config::BackendEncoding;
using sluice::config::OutputEncoding;

const sluice::shaping::BackendShaper& Shaper(int which) {
  static const sluice::shaping::BackendShaper* shapers[2] = {};
  if (shapers[which] == nullptr) {
    sluice::config::Backend b;
    if (which == 0) {
      b.target = "data";
      b.allow = {"a", "b.c", "list"};
      b.mapping = {{"a", "renamed"}};
      b.group = "g";
    } else {
      b.deny = {"secret", "x.y.z"};
    }
    shapers[which] = new sluice::shaping::BackendShaper(*sluice::shaping::BackendShaper::Create(b));
  }
  return *shapers[which];
}

const sluice::shaping::FlatmapFilter& Flatmap() {
  static const auto* f = new sluice::shaping::FlatmapFilter(
      *sluice::shaping::FlatmapFilter::Create(nlohmann::json::parse(R"([
        {"type": "move", "args": ["items.*.id", "items.*.key"]},
        {"type": "del", "args": ["items.*.internal"]},
        {"type": "append", "args": ["more", "items"]}])")));
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const BackendEncoding kEncodings[] = {BackendEncoding::kJson, BackendEncoding::kSafeJson,
                                               BackendEncoding::kString, BackendEncoding::kXml,
                                               BackendEncoding::kRss};
  const uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto decoded = sluice::encoding::Decode(kEncodings[selector % 5], body, (selector & 8) != 0);
  if (!decoded.ok()) return 0;
  nlohmann::json value = *decoded;
  Shaper((selector >> 4) & 1).Apply(value);
  if ((selector & 0x20) != 0) Flatmap().Apply(value);
  for (OutputEncoding out :
       {OutputEncoding::kJson, OutputEncoding::kJsonCollection, OutputEncoding::kString,
        OutputEncoding::kXml, OutputEncoding::kYaml, OutputEncoding::kNegotiate}) {
    auto rendered = sluice::encoding::Render(out, value, "application/xml;q=0.5, text/plain");
    if (rendered.ok() && rendered->content_type.empty()) __builtin_trap();
  }
  return 0;
}
