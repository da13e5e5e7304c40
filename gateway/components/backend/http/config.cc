#include "gateway/components/backend/http/config.h"

namespace sluice::components::backend_http {

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto config = std::make_shared<Config>();
  if (auto v = reader.Bool("return_error_code")) config->return_error_code = *v;
  if (auto v = reader.String("return_error_details")) {
    if (v->empty()) {
      reader.Error("return_error_details", "expected a non-empty alias");
    } else {
      config->error_details_alias = *v;
    }
  }
  return config;
}

}  // namespace sluice::components::backend_http
