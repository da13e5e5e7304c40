#include "gateway/components/proxy/config.h"

#include <string>
#include <utility>

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

std::shared_ptr<const EndpointConfig> ParseEndpoint(config::ObjectReader& reader) {
  auto config = std::make_shared<EndpointConfig>();
  if (auto v = reader.Bool("sequential")) config->sequential = *v;
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
