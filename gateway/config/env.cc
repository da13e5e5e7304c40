#include "gateway/config/env.h"

#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/config/addresses.h"
#include "gateway/config/namespaces.h"
#include "gateway/config/text.h"

namespace sluice::config {

namespace {

using Json = nlohmann::json;

// SLUICE_ADMIN_ADDRESS and SLUICE_METRICS_ADDRESS: the admin plane's listeners, per instance
// (several instances on one host, tests), written into extra_config."sluice/admin". The metrics
// one also replaces KrakenD's telemetry/metrics.listen_address, so the two never conflict.
void ApplyAdminEnv(std::optional<std::string> admin_address,
                   std::optional<std::string> metrics_address, Json* root,
                   std::vector<Diagnostic>* errors) {
  auto valid = [errors](const char* var, const std::optional<std::string>& v) {
    if (!v) return false;
    ListenAddress parsed;
    std::string why;
    if (ParseListenAddress(*v, &parsed, &why)) return true;
    errors->push_back({"", absl::StrCat(var, ": bad listen address ", Quote(*v), ": ", why)});
    return false;
  };
  const bool set_admin = valid("SLUICE_ADMIN_ADDRESS", admin_address);
  const bool set_metrics = valid("SLUICE_METRICS_ADDRESS", metrics_address);
  if (!set_admin && !set_metrics) return;
  // Never throw: a wrongly typed extra_config or component is left for the parser to report.
  auto extra = root->find("extra_config");
  if (extra == root->end() || extra->is_null()) {
    (*root)["extra_config"] = Json::object();
    extra = root->find("extra_config");
  }
  if (!extra->is_object()) return;
  auto admin = extra->find("sluice/admin");
  if (admin == extra->end() || admin->is_null()) {
    (*extra)["sluice/admin"] = Json::object();
    admin = extra->find("sluice/admin");
  }
  if (!admin->is_object()) return;
  if (set_admin) (*admin)["address"] = *admin_address;
  if (set_metrics) {
    (*admin)["metrics_address"] = *metrics_address;
    for (auto it = extra->begin(); it != extra->end(); ++it) {
      if (CanonicalNamespace(it.key()) == "telemetry/metrics" && it->is_object() &&
          it->contains("listen_address")) {
        (*it)["listen_address"] = *metrics_address;
      }
    }
  }
}

}  // namespace

void ApplyEnv(EnvLookup env, Json* root, std::vector<Diagnostic>* errors) {
  if (env == nullptr) return;
  auto get = [env](const char* name) -> std::optional<std::string> {
    std::optional<std::string> v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto v = get("SLUICE_NAME")) (*root)["name"] = *v;
  if (auto v = get("SLUICE_PORT")) {
    if (std::optional<uint16_t> port = ParsePort(*v)) {
      (*root)["port"] = *port;
    } else {
      errors->push_back(
          {"", absl::StrCat("SLUICE_PORT: expected a port 1..65535, got ", Quote(*v))});
    }
  }
  if (auto v = get("SLUICE_TIMEOUT")) {
    if (ParseDuration(*v)) {
      (*root)["timeout"] = *v;
    } else {
      errors->push_back({"", absl::StrCat("SLUICE_TIMEOUT: ", DurationError(*v))});
    }
  }
  ApplyAdminEnv(get("SLUICE_ADMIN_ADDRESS"), get("SLUICE_METRICS_ADDRESS"), root, errors);
}

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace sluice::config
