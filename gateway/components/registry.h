#pragma once

// Every KrakenD namespace Sluice implements, in one list. A component is a folder under
// gateway/components/<namespace>/ (its typed config, its parse and `check` errors, its stages,
// its tests under tests/gateway/components/<namespace>/) and one line in registry.cc. The list's
// order is the order of their stages in a stack (pipeline/stack.cc reads it).

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "gateway/backend/backend.h"
#include "gateway/config/config.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/stage.h"

namespace sluice::components {

enum class Scope { kService, kEndpoint, kBackend };

// Where a component's endpoint-level stage sits in an endpoint's stack.
enum class Phase {
  kGuard,  // above the proxy: may answer without calling backends (401, 403, 429...)
  kData,   // between merge and render: changes the merged data (proxy/static)
};

// What a component's stage factory may read.
struct BuildContext {
  const config::ServiceConfig& service;
  const config::Endpoint& endpoint;
  const config::Backend* backend = nullptr;  // backend-level stages only
  int workers = 0;
  // With metrics on: the registry, and (backend level) the backend's number in it.
  metrics::Registry* registry = nullptr;
  int backend_id = -1;
};

struct Component {
  std::string_view name;  // the v3 namespace
  // Parses the namespace's object at `scope` (errors through the reader). nullptr when the
  // namespace means nothing at that scope. A null `parse` marks a namespace read with the
  // service settings (gateway/config/config.h) rather than by a component.
  std::shared_ptr<const config::ComponentConfig> (*parse)(config::ObjectReader& reader,
                                                          Scope scope) = nullptr;
  Phase phase = Phase::kGuard;
  // The component's endpoint-level stage, or nullptr when this config needs none.
  pipeline::StagePtr (*endpoint_stage)(const config::ComponentConfig& config,
                                       const BuildContext& ctx) = nullptr;
  // Wraps a backend's stack (backend-level components), or returns `next` unchanged.
  backend::BackendPtr (*wrap_backend)(const config::ComponentConfig& config,
                                      backend::BackendPtr next, const BuildContext& ctx) = nullptr;
  // Wraps a backend's transport, below the balancer (so the host is chosen) and the status
  // policy (so it sees raw HTTP answers): the HTTP cache.
  backend::BackendPtr (*wrap_transport)(const config::ComponentConfig& config,
                                        backend::BackendPtr next,
                                        const BuildContext& ctx) = nullptr;
};

// Every component, in stack order.
absl::Span<const Component> Registry();

// What becomes of a protection the file configures that Sluice does not enforce (a KrakenD
// namespace that restricts traffic without a component here, or `tls`): nothing fails open.
enum class Unprotected {
  kRefuse,  // an error naming its path: the file does not load (check and run by default)
  kAllow,   // a warning, and the path goes to ServiceConfig::unprotected (--allow-unprotected)
};

// Parses the implemented namespaces of the service, every endpoint and every backend into typed
// configs; refuses protections Sluice does not enforce and warns about the other KrakenD
// namespaces it does not implement. A config::ComponentParser.
void ParseComponents(config::ServiceConfig* service, config::Diagnostics* out);
// The same, with Unprotected::kAllow.
void ParseComponentsAllowingUnprotected(config::ServiceConfig* service, config::Diagnostics* out);

// config::LoadConfigFile / ParseConfig with the components parsed: what `check` and `run` load.
config::LoadResult LoadConfigFile(const std::string& file_path,
                                  config::EnvLookup env = &config::ProcessEnv,
                                  Unprotected unprotected = Unprotected::kRefuse);
config::LoadResult ParseConfig(std::string_view bytes, std::string_view file_path,
                               config::EnvLookup env = &config::ProcessEnv,
                               Unprotected unprotected = Unprotected::kRefuse);

}  // namespace sluice::components
