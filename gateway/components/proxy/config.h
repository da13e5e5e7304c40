#pragma once

// KrakenD's `proxy` namespace (v1 `github.com/devopsfaith/krakend/proxy`).
//   endpoint: sequential (bool), static {strategy, data}, sequential_propagated_params (checked;
//             nothing in Sluice reads what it propagates: its readers are Lua and body generators)
//   backend:  flatmap_filter (shaping operations, see gateway/shaping/flatmap.h)

#include <memory>
#include <optional>

#include "gateway/config/reader.h"
#include "gateway/shaping/flatmap.h"
#include "nlohmann/json.hpp"

namespace sluice::components::proxy {

inline constexpr std::string_view kNamespace = "proxy";

// proxy.static: data added to the merged answer, depending on whether every backend answered.
struct StaticResponse {
  enum class Strategy { kAlways, kSuccess, kComplete, kErrored, kIncomplete };
  Strategy strategy = Strategy::kAlways;
  nlohmann::json data = nlohmann::json::object();

  // Whether the static data joins an answer whose backends `all_ok` or not.
  bool AppliesTo(bool all_ok) const;
};

struct EndpointConfig : config::ComponentConfig {
  bool sequential = false;  // backends called one after the other, each seeing earlier answers
  std::optional<StaticResponse> static_response;
};

struct BackendConfig : config::ComponentConfig {
  std::optional<shaping::FlatmapFilter> flatmap;  // absent when none or empty (Lura: no formatter)
};

// "resp0", "resp1_user.id": Lura's form of a sequential_propagated_params entry.
bool IsPropagatedParam(std::string_view param);

std::shared_ptr<const EndpointConfig> ParseEndpoint(config::ObjectReader& reader);
std::shared_ptr<const BackendConfig> ParseBackend(config::ObjectReader& reader);

}  // namespace sluice::components::proxy
