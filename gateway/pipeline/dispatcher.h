#pragma once

// The request handler behind the HTTP front: gives each request an id, routes it to its
// endpoint's stack or to a built-in endpoint (/__health, /__debug/), and answers router misses
// (404/405) as KrakenD does. Owns the stacks and what their backends share (per-worker REST
// clients, gRPC clients).

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "gateway/components/security/botdetector/detector.h"
#include "gateway/components/security/cors/cors.h"
#include "gateway/components/security/http/secure.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/stack.h"
#include "gateway/router/router.h"

namespace sluice::pipeline {

class Dispatcher : public http::Handler {
 public:
  // Builds every endpoint's stack. `workers` are the event loops requests run on (one REST
  // client each); none when only checking a config (`sluice check` builds the same stacks
  // without starting anything). `debug` enables /__debug/ (also enabled by the config's
  // debug_endpoint). While `*draining` is true, /__health answers 503 so load balancers stop
  // sending new traffic. `transports` replaces the REST/gRPC transports (tests). `rest` are the
  // REST clients to use (kept across reloads); null: made for this dispatcher. The config's
  // endpoints and backends are registered in `registry` (slots()); Activate is the caller's.
  static absl::StatusOr<std::unique_ptr<Dispatcher>> Create(
      std::shared_ptr<const config::ServiceConfig> config,
      const std::vector<boost::asio::io_context*>& workers, bool debug, metrics::Registry& registry,
      const std::atomic<bool>* draining, TransportFactory transports = nullptr,
      std::shared_ptr<const RestClients> rest = nullptr);

  // One REST client per worker with the config's client_tls.
  static absl::StatusOr<std::shared_ptr<const RestClients>> MakeRestClients(
      const config::ServiceConfig& config, const std::vector<boost::asio::io_context*>& workers);

  ~Dispatcher() override;

  // http::Handler
  void Handle(http::ExchangePtr exchange) override { Handle(std::move(exchange), nullptr); }
  // As Handle; a request that goes on asynchronously keeps a copy of `keep` (what owns this
  // dispatcher) until it ends. Answers given at once copy nothing.
  void Handle(http::ExchangePtr exchange, const std::shared_ptr<const void>& keep);

  const std::shared_ptr<const config::ServiceConfig>& config() const { return config_; }
  const metrics::Slots& slots() const { return slots_; }

 private:
  Dispatcher(std::shared_ptr<const config::ServiceConfig> config, router::Router router, bool debug,
             const std::atomic<bool>* draining);

  void Route(http::ExchangePtr exchange, const std::shared_ptr<const void>& keep);
  void HandleBuiltin(const http::ExchangePtr& exchange, std::string_view path);
  // 404/405: KrakenD's text, or the JSON of router.error_body.
  // gin's trailing-slash and fixed-path redirects for a router miss, or nullopt.
  std::optional<http::Response> Redirect(std::string_view method, std::string_view path,
                                         std::string_view target) const;
  http::Response ErrorResponse(boost::beast::http::status status) const;
  // The client's X-Request-Id when it is a sane one, else a new random id.
  std::string RequestId(const http::Request& request, int worker);

  std::shared_ptr<const config::ServiceConfig> config_;
  router::Router router_;
  bool debug_;
  const std::atomic<bool>* draining_;
  std::string not_found_body_;           // rendered router.error_body."404", or empty
  std::string method_not_allowed_body_;  // rendered router.error_body."405", or empty
  bool redirect_trailing_slash_ = true;  // router.disable_redirect_trailing_slash
  bool redirect_fixed_path_ = true;      // router.disable_redirect_fixed_path
  // security/cors, outermost; null when the config has none.
  std::unique_ptr<const components::cors::Cors> cors_;
  // security/http, inside CORS; null when the config has none.
  std::unique_ptr<const components::httpsecure::Secure> secure_;
  // Service-level security/bot-detector, in config_; null when none.
  const components::botdetector::Config* bots_ = nullptr;
  std::vector<boost::asio::io_context*> workers_;
  // Per worker, on its own cache line: the state of its request-id generator.
  struct alignas(64) IdSource {
    uint64_t state = 0;
  };
  std::vector<IdSource> ids_;
  metrics::Slots slots_;
  Upstreams upstreams_;  // outlives the stacks, whose transports use it
  std::vector<std::unique_ptr<const Stack>> stacks_;
};

}  // namespace sluice::pipeline
