#pragma once

// The request handler behind the HTTP front: routes a request to its endpoint pipeline or to a
// built-in endpoint (/__health, /__debug/), and answers 404/405 as KrakenD does.

#include <atomic>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/http/server.h"
#include "gateway/pipeline/endpoint.h"
#include "gateway/router/router.h"

namespace sluice::pipeline {

class Gateway : public http::Handler {
 public:
  // Builds every endpoint pipeline and one backend client per worker. `debug` enables
  // /__debug/ (also enabled by the config's debug_endpoint). While `*draining` is true,
  // /__health answers 503 so load balancers stop sending new traffic.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(
      std::shared_ptr<const config::ServiceConfig> config, http::WorkerPool& workers, bool debug,
      metrics::Registry& registry, const std::atomic<bool>* draining);

  // http::Handler
  void Handle(http::ExchangePtr exchange) override;

 private:
  Gateway(std::shared_ptr<const config::ServiceConfig> config, router::Router router, bool debug,
          const std::atomic<bool>* draining);

  void HandleBuiltin(const http::ExchangePtr& exchange, std::string_view path);
  // 404/405: KrakenD's text, or the JSON of router.error_body.
  http::Response ErrorResponse(boost::beast::http::status status) const;

  std::shared_ptr<const config::ServiceConfig> config_;
  router::Router router_;
  bool debug_;
  const std::atomic<bool>* draining_;
  std::string not_found_body_;           // rendered router.error_body."404", or empty
  std::string method_not_allowed_body_;  // rendered router.error_body."405", or empty
  std::unique_ptr<backend::grpc::Runtime> grpc_;  // outlives the pipelines that call into it
  std::vector<std::unique_ptr<EndpointPipeline>> pipelines_;
  std::vector<WorkerState> workers_;
};

}  // namespace sluice::pipeline
