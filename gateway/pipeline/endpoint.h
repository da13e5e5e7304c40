#pragma once

// An endpoint's pipeline, built once at start-up from its config (Lura's per-endpoint proxy
// stack): forward (build backend requests) -> backends (in parallel) -> status policy -> decode ->
// merge -> render. Features that are off are not in the chain: a no-op endpoint is a different
// class from a merging one, not an `if` per request.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "gateway/backend/grpc/backend.h"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/request_builder.h"
#include "gateway/router/router.h"

namespace sluice::pipeline {

// Per-worker mutable state: only ever touched from that worker's thread.
struct WorkerState {
  int index = 0;
  boost::asio::io_context* ioc = nullptr;  // the worker's event loop
  std::unique_ptr<backend::rest::Client> client;
  std::vector<uint32_t> round_robin;  // next host per backend (indexed by BackendProxy::index)
};

// One configured backend: immutable, shared by all workers.
class BackendProxy {
 public:
  // `index` is unique across the gateway (round-robin slot); `host_slots` were registered with
  // every worker's client in the same order (REST backends). A backend with
  // extra_config."backend/grpc" is resolved in `grpc` instead.
  static absl::StatusOr<BackendProxy> Create(const config::Endpoint& endpoint,
                                             const config::Backend& backend, int index,
                                             std::vector<int> host_slots,
                                             backend::grpc::Runtime& grpc);

  // Sends the backend request built from the client's; `done` runs on the worker thread.
  // `previous` holds earlier backends' answers on sequential endpoints ({respN_...}).
  void Call(WorkerState& worker, const http::Exchange& exchange, const router::Params& params,
            std::string body, backend::rest::Deadline deadline, backend::rest::Callback done,
            const std::vector<const nlohmann::json*>* previous = nullptr) const;

  const config::Backend& config() const { return *config_; }
  int index() const { return index_; }

 private:
  const config::Backend* config_ = nullptr;
  int index_ = 0;
  std::vector<int> host_slots_;
  std::unique_ptr<UrlTemplate> url_;
  BackendRequestSpec spec_{};
  std::shared_ptr<const backend::grpc::Backend> grpc_;  // gRPC backends only
};

class EndpointPipeline {
 public:
  virtual ~EndpointPipeline() = default;
  // Runs on the exchange's worker thread; responds exactly once, within the endpoint timeout.
  virtual void Handle(http::ExchangePtr exchange, router::Params params,
                      WorkerState& worker) const = 0;
};

// Whether the endpoint calls its backends one after the other (extra_config.proxy.sequential).
bool IsSequential(const config::Endpoint& endpoint);

// Whether a backend is a gRPC backend (extra_config."backend/grpc").
bool IsGrpc(const config::Backend& backend);

// Builds the pipeline for endpoint number `endpoint_id`. `next_backend_index` hands out backend
// numbers (round-robin and metrics slots, in config order); `register_host` registers a REST host
// with every worker's client and returns its slot; gRPC backends resolve their methods and
// channels in `grpc`. Metrics go to `registry`.
absl::StatusOr<std::unique_ptr<EndpointPipeline>> BuildEndpointPipeline(
    const config::ServiceConfig& service, const config::Endpoint& endpoint, int endpoint_id,
    int* next_backend_index, const std::function<int(const config::HostAddress&)>& register_host,
    backend::grpc::Runtime& grpc, metrics::Registry& registry);

}  // namespace sluice::pipeline
