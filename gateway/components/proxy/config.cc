#include "gateway/components/proxy/config.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sluice::components::proxy {

bool StaticResponse::AppliesTo(bool all_ok) const {
  switch (strategy) {
    case Strategy::kAlways:
      return true;
    case Strategy::kSuccess:
    case Strategy::kComplete:
      return all_ok;
    case Strategy::kErrored:
    case Strategy::kIncomplete:
      return !all_ok;
  }
  return false;
}

// Lura's pattern for a propagated param: resp, the backend's index, then an optional _field.
bool IsPropagatedParam(std::string_view p) {
  if (p.size() < 5 || (p[0] != 'r' && p[0] != 'R') || p.substr(1, 3) != "esp") return false;
  size_t i = 4;
  while (i < p.size() && absl::ascii_isdigit(p[i])) ++i;
  if (i == 4) return false;
  if (i == p.size()) return true;
  if (p[i] != '_' || i + 1 == p.size()) return false;
  for (++i; i < p.size(); ++i) {
    if (!absl::ascii_isalnum(p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.') return false;
  }
  return true;
}

std::shared_ptr<const EndpointConfig> ParseEndpoint(config::ObjectReader& reader) {
  auto config = std::make_shared<EndpointConfig>();
  if (auto v = reader.Bool("sequential")) config->sequential = *v;
  if (auto params = reader.Strings("sequential_propagated_params")) {
    for (size_t i = 0; i < params->size(); ++i) {
      const std::string key = absl::StrCat("sequential_propagated_params[", i, "]");
      if (!IsPropagatedParam((*params)[i])) {
        reader.Lint(key, "expected respN or respN_field (field a dot path); KrakenD skips it");
      }
    }
    if (!params->empty()) {
      reader.Lint("sequential_propagated_params",
                  config->sequential
                      ? "Sluice accepts it and no component of Sluice reads what it propagates: "
                        "its readers are Lua and the body generators, which Sluice does not run; "
                        "every later backend of the chain already has {respN_field} placeholders"
                      : "has no effect without sequential: true");
    }
  }
  if (std::optional<config::ObjectReader> s = reader.Object("static")) {
    StaticResponse response;
    const std::string name = s->String("strategy").value_or("");
    if (name == "always") {
      response.strategy = StaticResponse::Strategy::kAlways;
    } else if (name == "success") {
      response.strategy = StaticResponse::Strategy::kSuccess;
    } else if (name == "complete") {
      response.strategy = StaticResponse::Strategy::kComplete;
    } else if (name == "errored") {
      response.strategy = StaticResponse::Strategy::kErrored;
    } else if (name == "incomplete") {
      response.strategy = StaticResponse::Strategy::kIncomplete;
    } else {
      s->Error("strategy", "expected one of always, success, complete, errored, incomplete");
    }
    const nlohmann::json* data = s->Find("data");
    if (data == nullptr || !data->is_object()) {
      s->Error("data", "expected an object");
    } else {
      response.data = *data;
    }
    config->static_response = std::move(response);
  }
  return config;
}

std::shared_ptr<const BackendConfig> ParseBackend(config::ObjectReader& reader) {
  auto config = std::make_shared<BackendConfig>();
  if (const nlohmann::json* ops = reader.Find("flatmap_filter")) {
    absl::StatusOr<shaping::FlatmapFilter> flatmap = shaping::FlatmapFilter::Create(*ops);
    if (!flatmap.ok()) {
      reader.Error("flatmap_filter", std::string(flatmap.status().message()));
    } else if (!flatmap->empty()) {
      config->flatmap = *std::move(flatmap);
    }
  }
  return config;
}

}  // namespace sluice::components::proxy
