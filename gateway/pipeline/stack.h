#pragma once

// The one place an endpoint's stack is assembled (BuildEndpointStack), top to bottom, as Lura's
// newStack reads. Built once per endpoint at start-up (and by `sluice check`, which builds the
// same stacks without starting anything); shared by every worker.

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gateway/backend/backend.h"
#include "gateway/backend/grpc/channels.h"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline {

// Makes the bottom of a backend's stack: the call over the wire. Production uses
// DefaultTransports; tests substitute fake backends.
using TransportFactory = std::function<absl::StatusOr<backend::BackendPtr>(
    const config::Endpoint& endpoint, const config::Backend& backend)>;

// One keep-alive REST client per worker (none when only checking a config). Outlives
// configuration reloads: a new configuration keeps the pools and their open connections.
using RestClients = std::vector<std::unique_ptr<backend::rest::Client>>;

// What the stacks' transports share, owned by the dispatcher and outliving every stack.
struct Upstreams {
  int workers = 0;
  std::shared_ptr<const RestClients> rest;
  std::unique_ptr<backend::grpc::Channels> grpc;
};

// REST or gRPC (extra_config."backend/grpc"), over `upstreams`.
TransportFactory DefaultTransports(Upstreams& upstreams);

// Builds an endpoint's stack. `endpoint_slot` and `backend_slots` (one per backend, in order) are
// where it counts in `registry`, which is null when metrics are off. Errors name the endpoint's
// or backend's JSON path.
absl::StatusOr<std::unique_ptr<const Stack>> BuildEndpointStack(
    const config::ServiceConfig& service, const config::Endpoint& endpoint, int endpoint_slot,
    absl::Span<const int> backend_slots, int workers, const TransportFactory& transports,
    metrics::Registry* registry);

}  // namespace sluice::pipeline
