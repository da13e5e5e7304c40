#include "gateway/components/router/config.h"

#include "absl/strings/str_cat.h"
#include "gateway/encoding/json.h"

namespace sluice::components::router {

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto config = std::make_shared<Config>();
  if (auto v = reader.Bool("return_error_msg")) config->return_error_msg = *v;
  if (auto v = reader.Bool("disable_redirect_trailing_slash"))
    config->redirect_trailing_slash = !*v;
  if (auto v = reader.Bool("disable_redirect_fixed_path")) config->redirect_fixed_path = !*v;
  if (const nlohmann::json* bodies = reader.Find("error_body")) {
    if (!bodies->is_object()) {
      reader.Error("error_body", "expected an object keyed by \"404\" and \"405\"");
    } else {
      for (const auto& [code, body] : bodies->items()) {
        if (code == "404") {
          config->not_found_body = encoding::RenderJson(body);
        } else if (code == "405") {
          config->method_not_allowed_body = encoding::RenderJson(body);
        } else {
          reader.Error(absl::StrCat("error_body.", code), "only \"404\" and \"405\" are served");
        }
      }
    }
  }
  return config;
}

}  // namespace sluice::components::router
