#include "gateway/components/sluice/backend/config.h"

#include <string_view>

#include "absl/strings/ascii.h"

namespace sluice::components::sluice_backend {

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  // Sluice owns this namespace: its keys are linted (a typo would silently keep the default).
  static constexpr std::string_view kKeys[] = {"success_status", "return_headers"};
  reader.CheckKeys(kKeys);
  auto config = std::make_shared<Config>();
  if (auto v = reader.String("success_status")) {
    if (*v != "2xx" && *v != "200-201") {
      reader.Error("success_status", "expected \"200-201\" (KrakenD) or \"2xx\"");
    } else {
      config->success_any_2xx = *v == "2xx";
    }
  }
  if (auto v = reader.Strings("return_headers")) {
    for (std::string& name : *v) {
      absl::AsciiStrToLower(&name);
      config->return_headers.push_back(std::move(name));
    }
  }
  return config;
}

}  // namespace sluice::components::sluice_backend
