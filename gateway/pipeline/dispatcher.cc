#include "gateway/pipeline/dispatcher.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/components/router/config.h"
#include "gateway/encoding/json.h"
#include "gateway/http/tls.h"
#include "gateway/http/wire.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;

namespace {

// A client's X-Request-Id longer than this is replaced: ids are copied into every log line and
// backend request, so a client must not choose their size.
constexpr size_t kMaxRequestIdBytes = 128;

http::Response TextResponse(bhttp::status status, std::string_view text) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, Bv(http::kTextContentType));
  res.body() = text;
  return res;
}

// Go's htmlEscape, for the link in a redirect's body.
std::string HtmlEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

http::Response JsonResponse(bhttp::status status, std::string body) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, Bv(encoding::kJsonContentType));
  res.body() = std::move(body);
  return res;
}

// Printable ASCII without spaces: safe in a log line and a header.
bool SaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// splitmix64: a fast, well-mixed sequence; ids need to be unique, not secret.
uint64_t Next(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Dispatcher::Dispatcher(std::shared_ptr<const config::ServiceConfig> config, router::Router router,
                       bool debug, const std::atomic<bool>* draining)
    : config_(std::move(config)), router_(std::move(router)), debug_(debug), draining_(draining) {}

Dispatcher::~Dispatcher() = default;

absl::StatusOr<std::unique_ptr<Dispatcher>> Dispatcher::Create(
    std::shared_ptr<const config::ServiceConfig> config,
    const std::vector<boost::asio::io_context*>& workers, bool debug, metrics::Registry& registry,
    const std::atomic<bool>* draining, TransportFactory transports,
    std::shared_ptr<const RestClients> rest) {
  std::vector<router::Route> routes;
  for (size_t i = 0; i < config->endpoints.size(); ++i) {
    const auto& e = config->endpoints[i];
    routes.push_back(router::Route{e.method, e.path, static_cast<int>(i)});
  }
  auto router = router::Router::Build(routes);
  if (!router.ok()) return router.status();
  std::unique_ptr<Dispatcher> d(
      new Dispatcher(config, std::move(*router), debug || config->debug_endpoint, draining));

  d->workers_ = workers;
  d->ids_.resize(workers.size());
  std::random_device random;
  for (auto& id : d->ids_) id.state = (uint64_t{random()} << 32) ^ random();
  Upstreams& up = d->upstreams_;
  up.workers = static_cast<int>(workers.size());
  if (rest == nullptr) {
    auto made = MakeRestClients(*config, workers);
    if (!made.ok()) return made.status();
    rest = std::move(*made);
  }
  up.rest = std::move(rest);
  const std::string& path = config->file_path;
  const size_t slash = path.rfind('/');
  const std::string config_dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  auto grpc = backend::grpc::Channels::Create(
      config->components.Get<components::grpc::Config>(components::grpc::kNamespace), config_dir,
      workers);
  if (!grpc.ok()) return grpc.status();
  up.grpc = std::move(*grpc);
  if (!transports) transports = DefaultTransports(up);

  metrics::Registry* metrics = config->tuning.metrics ? &registry : nullptr;
  absl::StatusOr<metrics::Slots> slots = registry.Register(*config);
  if (!slots.ok()) return slots.status();
  d->slots_ = std::move(*slots);
  absl::Span<const int> backend_slots = d->slots_.backends;
  for (size_t i = 0; i < config->endpoints.size(); ++i) {
    auto stack = BuildEndpointStack(*config, config->endpoints[i], d->slots_.endpoints[i],
                                    backend_slots, up.workers, transports, metrics);
    if (!stack.ok()) return stack.status();
    backend_slots.remove_prefix(config->endpoints[i].backends.size());
    d->stacks_.push_back(std::move(*stack));
  }
  if (const auto* router_cfg =
          config->components.Get<components::router::Config>(components::router::kNamespace)) {
    d->not_found_body_ = router_cfg->not_found_body;
    d->method_not_allowed_body_ = router_cfg->method_not_allowed_body;
    d->redirect_trailing_slash_ = router_cfg->redirect_trailing_slash;
    d->redirect_fixed_path_ = router_cfg->redirect_fixed_path;
  }
  if (const auto* cors =
          config->components.Get<components::cors::Config>(components::cors::kNamespace)) {
    // Shares ownership of the service config that holds it.
    d->cors_ = std::make_unique<components::cors::Cors>(
        std::shared_ptr<const components::cors::Config>(config, cors));
  }
  d->bots_ =
      config->components.Get<components::botdetector::Config>(components::botdetector::kNamespace);
  if (const auto* secure = config->components.Get<components::httpsecure::Config>(
          components::httpsecure::kNamespace)) {
    d->secure_ = std::make_unique<components::httpsecure::Secure>(
        std::shared_ptr<const components::httpsecure::Config>(config, secure));
  }
  return d;
}

absl::StatusOr<std::shared_ptr<const RestClients>> Dispatcher::MakeRestClients(
    const config::ServiceConfig& config, const std::vector<boost::asio::io_context*>& workers) {
  backend::rest::ClientOptions client_options;
  auto client_tls = http::CreateClientContext(config.client_tls);
  if (!client_tls.ok()) return client_tls.status();
  client_options.tls = std::move(*client_tls);
  if (config.client_tls.allow_insecure_connections && !workers.empty()) {
    log::Warn(
        "client_tls.allow_insecure_connections: https backends' certificates are NOT verified; "
        "anyone on the path to them can read and change the traffic");
  }
  auto clients = std::make_shared<RestClients>();
  for (boost::asio::io_context* ioc : workers) {
    clients->push_back(std::make_unique<backend::rest::Client>(*ioc, client_options));
  }
  return std::shared_ptr<const RestClients>(std::move(clients));
}

std::string Dispatcher::RequestId(const http::Request& request, int worker) {
  if (auto it = request.find("X-Request-Id"); it != request.end()) {
    std::string_view id = Sv(it->value());
    if (SaneRequestId(id)) return std::string(id);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = Next(&ids_[worker].state);
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) id[i] = kHex[v & 15];
  return id;
}

void Dispatcher::Handle(http::ExchangePtr exchange, const std::shared_ptr<const void>& keep) {
  if (cors_ != nullptr && cors_->Handle(&exchange)) return;      // a preflight, answered
  if (secure_ != nullptr && secure_->Handle(&exchange)) return;  // a bad Host, answered
  if (bots_ != nullptr) {
    const http::Request& req = exchange->request();
    auto ua = req.find(bhttp::field::user_agent);
    if (bots_->IsBot(ua == req.end() ? std::string_view() : Sv(ua->value()))) {
      log::Error("bot rejected: user agent '{}' on {}",
                 ua == req.end() ? std::string_view() : Sv(ua->value()), Sv(req.target()));
      return exchange->Respond(components::botdetector::BotResponse());
    }
  }
  Route(std::move(exchange), keep);
}

void Dispatcher::Route(http::ExchangePtr exchange, const std::shared_ptr<const void>& keep) {
  const http::Request& req = exchange->request();
  std::string_view target = Sv(req.target());
  std::string_view path = target.substr(0, target.find('?'));
  if (StartsWith(path, "/__")) return HandleBuiltin(exchange, path);

  std::string_view method = Sv(req.method_string());
  int id = 0;
  router::Params params;
  switch (router_.Match(method, path, &id, &params)) {
    case router::MatchResult::kFound: {
      const int worker = exchange->worker_index();
      const Clock::time_point start = Clock::now();
      std::string request_id = RequestId(req, worker);
      auto ctx = std::make_shared<RequestContext>(std::move(exchange), std::move(params), worker,
                                                  workers_[worker]);
      ctx->request_id = std::move(request_id);
      ctx->keep_alive = keep;
      ctx->call.request_id = ctx->request_id;
      ctx->start = start;
      ctx->deadline = start + absl::ToChronoNanoseconds(config_->endpoints[id].timeout);
      return stacks_[id]->Start(std::move(ctx));
    }
    case router::MatchResult::kMethodNotAllowed:
      if (auto redirect = Redirect(method, path, target))
        return exchange->Respond(std::move(*redirect));
      return exchange->Respond(ErrorResponse(bhttp::status::method_not_allowed));
    case router::MatchResult::kNotFound:
      if (auto redirect = Redirect(method, path, target))
        return exchange->Respond(std::move(*redirect));
      return exchange->Respond(ErrorResponse(bhttp::status::not_found));
  }
}

// gin's order: a route for this method one trailing slash away, then one that differs by case or
// by `//`, `.`, `..`; answered as Go's http.Redirect does (HTML link for GET and HEAD).
std::optional<http::Response> Dispatcher::Redirect(std::string_view method, std::string_view path,
                                                   std::string_view target) const {
  if (method == "CONNECT" || path == "/") return std::nullopt;
  std::optional<std::string> to;
  if (redirect_trailing_slash_) {
    std::string alt =
        path.back() == '/' ? std::string(path.substr(0, path.size() - 1)) : std::string(path) + "/";
    int id = 0;
    router::Params ignored;
    if (router_.Match(method, alt, &id, &ignored) == router::MatchResult::kFound) to = alt;
  }
  if (!to && redirect_fixed_path_) {
    to = router_.FixedPath(method, router::CleanPath(path), redirect_trailing_slash_);
  }
  if (!to || *to == path) return std::nullopt;
  const std::string location = *to + std::string(target.substr(path.size()));
  const bool get = method == "GET";
  http::Response res(get ? bhttp::status::moved_permanently : bhttp::status::temporary_redirect,
                     11);
  res.set(bhttp::field::location, location);
  if (get || method == "HEAD") {
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = "<a href=\"" + HtmlEscape(location) + "\">" +
                 (get ? "Moved Permanently" : "Temporary Redirect") + "</a>.\n\n";
  }
  return res;
}

http::Response Dispatcher::ErrorResponse(bhttp::status status) const {
  const bool not_found = status == bhttp::status::not_found;
  const std::string& custom = not_found ? not_found_body_ : method_not_allowed_body_;
  if (!custom.empty()) return JsonResponse(status, custom);
  // gin's own answers (KrakenD's): "text/plain" without a charset.
  http::Response res =
      TextResponse(status, not_found ? "404 page not found" : "405 method not allowed");
  res.set(bhttp::field::content_type, "text/plain");
  return res;
}

void Dispatcher::HandleBuiltin(const http::ExchangePtr& exchange, std::string_view path) {
  const http::Request& req = exchange->request();
  if (path == "/__health") {
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      return exchange->Respond(ErrorResponse(bhttp::status::method_not_allowed));
    }
    const bool draining = draining_ != nullptr && draining_->load(std::memory_order_relaxed);
    nlohmann::json body = {
        {"agents", nlohmann::json::object()},
        {"now", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::LocalTimeZone())},
        {"status", draining ? "draining" : "ok"},
    };
    return exchange->Respond(
        JsonResponse(draining ? bhttp::status::service_unavailable : bhttp::status::ok,
                     encoding::RenderJson(body)));
  }
  if (debug_ && (path == "/__debug" || StartsWith(path, "/__debug/"))) {
    if (log::DebugEnabled()) {
      std::string headers;
      for (const auto& f : req) {
        headers.append(Sv(f.name_string())).append(": ").append(Sv(f.value())).append("; ");
      }
      log::Debug("[/__debug] method={} url={} client={} headers={{{}}} body={}",
                 Sv(req.method_string()), Sv(req.target()), exchange->client_ip(), headers,
                 req.body());
    }
    return exchange->Respond(JsonResponse(bhttp::status::ok, R"({"message":"pong"})"));
  }
  return exchange->Respond(ErrorResponse(bhttp::status::not_found));
}

}  // namespace sluice::pipeline
