#include "gateway/pipeline/policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sluice::pipeline {

namespace {

// Reads `ns.key` from an extra_config object. nullptr when absent.
const nlohmann::json* Find(const nlohmann::json& extra, const char* ns, const char* key) {
  auto n = extra.find(ns);
  if (n == extra.end() || !n->is_object()) return nullptr;
  auto k = n->find(key);
  return k == n->end() ? nullptr : &*k;
}

absl::Status TypeError(const std::string& path, const char* ns, const char* key,
                       const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ".extra_config.", ns, ".", key, ": expected ", expected));
}

}  // namespace

absl::StatusOr<BackendPolicy> BackendPolicy::FromConfig(const config::Backend& backend) {
  BackendPolicy p;
  const nlohmann::json& extra = backend.extra_config;
  if (const auto* v = Find(extra, "backend/http", "return_error_code")) {
    if (!v->is_boolean()) return TypeError(backend.json_path, "backend/http", "return_error_code", "a boolean");
    p.return_error_code = v->get<bool>();
  }
  if (const auto* v = Find(extra, "backend/http", "return_error_details")) {
    if (!v->is_string() || v->get<std::string>().empty()) {
      return TypeError(backend.json_path, "backend/http", "return_error_details",
                       "a non-empty alias string");
    }
    p.error_details_alias = v->get<std::string>();
  }
  if (const auto* v = Find(extra, "sluice/backend", "success_status")) {
    if (!v->is_string() || (*v != "2xx" && *v != "200-201")) {
      return TypeError(backend.json_path, "sluice/backend", "success_status",
                       "\"200-201\" (KrakenD) or \"2xx\"");
    }
    p.success_any_2xx = *v == "2xx";
  }
  if (const auto* v = Find(extra, "sluice/backend", "return_headers")) {
    if (!v->is_array()) {
      return TypeError(backend.json_path, "sluice/backend", "return_headers",
                       "an array of header names");
    }
    for (const auto& h : *v) {
      if (!h.is_string()) {
        return TypeError(backend.json_path, "sluice/backend", "return_headers",
                         "an array of header names");
      }
      std::string name = h.get<std::string>();
      absl::AsciiStrToLower(&name);
      p.return_headers.push_back(std::move(name));
    }
  }
  return p;
}

bool StaticResponse::AppliesTo(bool all_ok) const {
  switch (strategy) {
    case Strategy::kAlways: return true;
    case Strategy::kSuccess:
    case Strategy::kComplete: return all_ok;
    case Strategy::kErrored:
    case Strategy::kIncomplete: return !all_ok;
  }
  return false;
}

absl::StatusOr<EndpointPolicy> EndpointPolicy::FromConfig(const config::ServiceConfig& service,
                                                          const config::Endpoint& endpoint) {
  EndpointPolicy p;
  if (const auto* v = Find(service.extra_config, "router", "return_error_msg")) {
    if (!v->is_boolean()) return TypeError("", "router", "return_error_msg", "a boolean");
    p.return_error_msg = v->get<bool>();
  }
  if (const auto* v = Find(endpoint.extra_config, "proxy", "static")) {
    if (!v->is_object()) return TypeError(endpoint.json_path, "proxy", "static", "an object");
    StaticResponse s;
    auto strategy = v->find("strategy");
    const std::string name =
        strategy != v->end() && strategy->is_string() ? strategy->get<std::string>() : "";
    if (name == "always") {
      s.strategy = StaticResponse::Strategy::kAlways;
    } else if (name == "success") {
      s.strategy = StaticResponse::Strategy::kSuccess;
    } else if (name == "complete") {
      s.strategy = StaticResponse::Strategy::kComplete;
    } else if (name == "errored") {
      s.strategy = StaticResponse::Strategy::kErrored;
    } else if (name == "incomplete") {
      s.strategy = StaticResponse::Strategy::kIncomplete;
    } else {
      return TypeError(endpoint.json_path, "proxy", "static.strategy",
                       "one of always, success, complete, errored, incomplete");
    }
    auto data = v->find("data");
    if (data == v->end() || !data->is_object()) {
      return TypeError(endpoint.json_path, "proxy", "static.data", "an object");
    }
    s.data = *data;
    p.static_response = std::move(s);
  }
  return p;
}

}  // namespace sluice::pipeline
