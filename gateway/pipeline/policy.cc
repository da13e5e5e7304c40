#include "gateway/pipeline/policy.h"

#include "absl/strings/ascii.h"
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

std::string StatusErrorPrefix(const config::Endpoint& endpoint, const config::Backend& backend) {
  std::string prefix = "[";
  prefix += backend.method.empty() ? endpoint.method : backend.method;
  prefix += ' ';
  const std::string& pattern = backend.url_pattern;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const size_t close = pattern[i] == '{' ? pattern.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      prefix += pattern[i];
      continue;
    }
    prefix += "{{.";
    bool word_start = true;  // strings.Title: a letter after a separator starts a word
    for (size_t k = i + 1; k < close; ++k) {
      const char c = pattern[k];
      prefix += word_start ? absl::ascii_toupper(c) : c;
      word_start = !(absl::ascii_isalnum(c) || c == '_');
    }
    prefix += "}}";
    i = close;
  }
  prefix += "]:";
  return prefix;
}

}  // namespace sluice::pipeline
