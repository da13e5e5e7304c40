#pragma once

// The one place an endpoint's stack is assembled (BuildEndpointStack), top to bottom, as Lura's
// newStack reads. Built once per endpoint at start-up (and by `sluice check`, which builds the
// same stacks without starting anything); shared by every worker.

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
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

// What the stacks' transports share, owned by the dispatcher and outliving every stack.
struct Upstreams {
  int workers = 0;
  // One keep-alive REST client per worker (empty when only checking a config).
  std::vector<std::unique_ptr<backend::rest::Client>> rest_clients;
  std::unique_ptr<backend::grpc::Channels> grpc;
};

// REST or gRPC (extra_config."backend/grpc"), over `upstreams`.
TransportFactory DefaultTransports(Upstreams& upstreams);

// Builds the stack of endpoint number `endpoint_id`. `next_backend_id` hands out backend numbers
// (metrics slots, in config order). `registry` is null when metrics are off. Errors name the
// endpoint's or backend's JSON path.
absl::StatusOr<std::unique_ptr<const Stack>> BuildEndpointStack(
    const config::ServiceConfig& service, const config::Endpoint& endpoint, int endpoint_id,
    int* next_backend_id, int workers, const TransportFactory& transports,
    metrics::Registry* registry);

}  // namespace sluice::pipeline
