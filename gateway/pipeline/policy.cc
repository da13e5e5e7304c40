#include "gateway/pipeline/policy.h"

#include "gateway/components/backend/http/config.h"
#include "gateway/components/sluice/backend/config.h"

namespace sluice::pipeline {

BackendPolicy BackendPolicy::FromConfig(const config::Backend& backend) {
  BackendPolicy p;
  namespace http_ns = components::backend_http;
  namespace sluice_ns = components::sluice_backend;
  if (const auto* c = backend.components.Get<http_ns::Config>(http_ns::kNamespace)) {
    p.return_error_code = c->return_error_code;
    p.error_details_alias = c->error_details_alias;
  }
  if (const auto* c = backend.components.Get<sluice_ns::Config>(sluice_ns::kNamespace)) {
    p.success_any_2xx = c->success_any_2xx;
    p.return_headers = c->return_headers;
  }
  return p;
}

}  // namespace sluice::pipeline
