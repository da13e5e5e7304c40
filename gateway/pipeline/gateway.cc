#include "gateway/pipeline/gateway.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;

namespace {

http::Response TextResponse(bhttp::status status, std::string_view text) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = text;
  return res;
}

http::Response JsonResponse(bhttp::status status, std::string body) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, Bv(encoding::kJsonContentType));
  res.body() = std::move(body);
  return res;
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const config::ServiceConfig> config, router::Router router,
                 bool debug, const std::atomic<bool>* draining)
    : config_(std::move(config)), router_(std::move(router)), debug_(debug), draining_(draining) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(
    std::shared_ptr<const config::ServiceConfig> config, http::WorkerPool& workers, bool debug,
    metrics::Registry& registry, const std::atomic<bool>* draining) {
  std::vector<router::Route> routes;
  for (size_t i = 0; i < config->endpoints.size(); ++i) {
    const auto& e = config->endpoints[i];
    routes.push_back(router::Route{e.method, e.path, static_cast<int>(i)});
  }
  auto router = router::Router::Build(routes);
  if (!router.ok()) return router.status();
  std::unique_ptr<Gateway> gw(
      new Gateway(config, std::move(*router), debug || config->debug_endpoint, draining));

  gw->workers_.resize(workers.size());
  for (int w = 0; w < workers.size(); ++w) {
    gw->workers_[w].index = w;
    gw->workers_[w].ioc = &workers.context(w);
    gw->workers_[w].client = std::make_unique<backend::rest::Client>(
        workers.context(w), backend::rest::ClientOptions{});
  }
  auto register_host = [&gw](const config::HostAddress& host) {
    int slot = -1;
    for (auto& w : gw->workers_) slot = w.client->RegisterHost(host);
    return slot;  // identical on every worker: hosts are registered in the same order
  };
  auto grpc = backend::grpc::Runtime::Create(*config);
  if (!grpc.ok()) return grpc.status();
  gw->grpc_ = std::move(*grpc);
  int backend_count = 0;
  for (size_t i = 0; i < config->endpoints.size(); ++i) {
    auto pipeline = BuildEndpointPipeline(*config, config->endpoints[i], static_cast<int>(i),
                                          &backend_count, register_host, *gw->grpc_, registry);
    if (!pipeline.ok()) return pipeline.status();
    gw->pipelines_.push_back(std::move(*pipeline));
  }
  for (auto& w : gw->workers_) w.round_robin.assign(backend_count, 0);
  // KrakenD CE's router.error_body: {"404": {...}, "405": {...}} replaces the text answers.
  if (auto router = config->extra_config.find("router");
      router != config->extra_config.end() && router->is_object()) {
    if (auto bodies = router->find("error_body"); bodies != router->end()) {
      if (!bodies->is_object()) {
        return absl::InvalidArgumentError(
            "extra_config.router.error_body: expected an object keyed by \"404\" and \"405\"");
      }
      for (const auto& [code, body] : bodies->items()) {
        if (code == "404") {
          gw->not_found_body_ = encoding::RenderJson(body);
        } else if (code == "405") {
          gw->method_not_allowed_body_ = encoding::RenderJson(body);
        } else {
          return absl::InvalidArgumentError(absl::StrCat(
              "extra_config.router.error_body.", code, ": only \"404\" and \"405\" are served"));
        }
      }
    }
  }
  return gw;
}

void Gateway::Handle(http::ExchangePtr exchange) {
  const http::Request& req = exchange->request();
  std::string_view target = Sv(req.target());
  std::string_view path = target.substr(0, target.find('?'));
  if (StartsWith(path, "/__")) return HandleBuiltin(exchange, path);

  std::string_view method = Sv(req.method_string());
  int id = 0;
  router::Params params;
  switch (router_.Match(method, path, &id, &params)) {
    case router::MatchResult::kFound: {
      WorkerState& worker = workers_[exchange->worker_index()];
      return pipelines_[id]->Handle(std::move(exchange), std::move(params), worker);
    }
    case router::MatchResult::kMethodNotAllowed:
      return exchange->Respond(
          ErrorResponse(bhttp::status::method_not_allowed));
    case router::MatchResult::kNotFound:
      return exchange->Respond(ErrorResponse(bhttp::status::not_found));
  }
}

http::Response Gateway::ErrorResponse(bhttp::status status) const {
  const bool not_found = status == bhttp::status::not_found;
  const std::string& custom = not_found ? not_found_body_ : method_not_allowed_body_;
  if (!custom.empty()) return JsonResponse(status, custom);
  return TextResponse(status, not_found ? "404 page not found" : "405 method not allowed");
}

void Gateway::HandleBuiltin(const http::ExchangePtr& exchange, std::string_view path) {
  const http::Request& req = exchange->request();
  if (path == "/__health") {
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      return exchange->Respond(
          ErrorResponse(bhttp::status::method_not_allowed));
    }
    const bool draining = draining_ != nullptr && draining_->load(std::memory_order_relaxed);
    nlohmann::json body = {
        {"agents", nlohmann::json::object()},
        {"now", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::LocalTimeZone())},
        {"status", draining ? "draining" : "ok"},
    };
    return exchange->Respond(JsonResponse(
        draining ? bhttp::status::service_unavailable : bhttp::status::ok,
        encoding::RenderJson(body)));
  }
  if (debug_ && (path == "/__debug" || StartsWith(path, "/__debug/"))) {
    if (log::DebugEnabled()) {
      std::string headers;
      for (const auto& f : req) {
        headers.append(Sv(f.name_string())).append(": ").append(Sv(f.value())).append("; ");
      }
      log::Debug("[/__debug] method={} url={} client={} headers={{{}}} body={}",
                 Sv(req.method_string()), Sv(req.target()), exchange->client_ip(), headers, req.body());
    }
    return exchange->Respond(JsonResponse(bhttp::status::ok, R"({"message":"pong"})"));
  }
  return exchange->Respond(ErrorResponse(bhttp::status::not_found));
}

}  // namespace sluice::pipeline
