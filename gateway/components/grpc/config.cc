#include "gateway/components/grpc/config.h"

namespace sluice::components::grpc {

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto c = std::make_shared<Config>();
  const nlohmann::json* catalog = reader.Find("catalog");
  if (catalog == nullptr) return c;
  if (!catalog->is_array()) {
    reader.Error("catalog", "expected an array of descriptor-set files or directories");
    return c;
  }
  for (size_t i = 0; i < catalog->size(); ++i) {
    const nlohmann::json& entry = (*catalog)[i];
    if (!entry.is_string() || entry.get_ref<const std::string&>().empty()) {
      reader.Error(config::IndexPath("catalog", i), "expected a path");
      continue;
    }
    c->catalog.push_back(entry.get<std::string>());
  }
  return c;
}

}  // namespace sluice::components::grpc
