#pragma once

// KrakenD Enterprise's service-level `grpc`: where gRPC backends' schemas come from.
//   catalog: [descriptor-set files or folders], relative to the config file's folder
// The files are read when the gRPC backends' state is built (gateway/backend/grpc/channels.h).

#include <memory>
#include <string>
#include <vector>

#include "gateway/config/reader.h"

namespace sluice::components::grpc {

inline constexpr std::string_view kNamespace = "grpc";

struct Config : config::ComponentConfig {
  std::vector<std::string> catalog;  // as written
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::grpc
