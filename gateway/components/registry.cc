#include "gateway/components/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/components/auth/signer/signer.h"
#include "gateway/components/auth/validator/validator.h"
#include "gateway/components/backend/grpc/config.h"
#include "gateway/components/backend/http/config.h"
#include "gateway/components/grpc/config.h"
#include "gateway/components/proxy/config.h"
#include "gateway/components/proxy/static_stage.h"
#include "gateway/components/qos/circuitbreaker/breaker.h"
#include "gateway/components/qos/httpcache/cache.h"
#include "gateway/components/qos/ratelimit/proxy.h"
#include "gateway/components/qos/ratelimit/router.h"
#include "gateway/components/router/config.h"
#include "gateway/components/security/botdetector/detector.h"
#include "gateway/components/security/cors/config.h"
#include "gateway/components/security/http/secure.h"
#include "gateway/components/sluice/backend/config.h"
#include "gateway/components/sluice/clusterlimit/redis.h"
#include "gateway/components/validation/jsonschema/schema.h"
#include "gateway/config/namespaces.h"

namespace sluice::components {

namespace {

using ConfigPtr = std::shared_ptr<const config::ComponentConfig>;

// Adapters from each component's own parse functions to the registry's shape.
template <auto kParse>
ConfigPtr At(config::ObjectReader& reader, Scope) {
  return kParse(reader);
}

ConfigPtr ParseRouter(config::ObjectReader& r, Scope s) {
  return s == Scope::kService ? router::Parse(r) : nullptr;
}
ConfigPtr ParseGrpcCatalog(config::ObjectReader& r, Scope s) {
  return s == Scope::kService ? grpc::Parse(r) : nullptr;
}
ConfigPtr ParseProxy(config::ObjectReader& r, Scope s) {
  if (s == Scope::kEndpoint) return proxy::ParseEndpoint(r);
  if (s == Scope::kBackend) return proxy::ParseBackend(r);
  return nullptr;
}
ConfigPtr ParseCors(config::ObjectReader& r, Scope s) {
  if (s == Scope::kService) return cors::Parse(r);
  // Fail closed: an endpoint author relying on per-endpoint CORS must not get none.
  r.Error("",
          "endpoint-level security/cors is KrakenD Enterprise; Sluice reads it only in the "
          "service's extra_config");
  return nullptr;
}
ConfigPtr ParseHttpSecure(config::ObjectReader& r, Scope s) {
  return httpsecure::Parse(r, s == Scope::kService);
}
ConfigPtr ParseBotDetector(config::ObjectReader& r, Scope s) {
  if (s != Scope::kBackend) return botdetector::Parse(r);
  r.Error("", "security/bot-detector applies to the service or an endpoint, not a backend");
  return nullptr;
}
// A namespace that means something at one scope only: anywhere else it is a check error, never
// silently ignored (its author meant it to act).
constexpr const char* ScopeName(Scope s) {
  return s == Scope::kService ? "the service" : s == Scope::kEndpoint ? "an endpoint" : "a backend";
}
template <Scope kScope, auto kParse>
ConfigPtr OnlyAt(config::ObjectReader& r, Scope s) {
  if (s == kScope) return kParse(r);
  r.Error("", absl::StrCat("applies to ", ScopeName(kScope), " only"));
  return nullptr;
}
template <typename StageT, typename ConfigT>
pipeline::StagePtr StageOf(const config::ComponentConfig& c, const BuildContext&) {
  return std::make_unique<StageT>(static_cast<const ConfigT&>(c));
}
backend::BackendPtr WrapBreaker(const config::ComponentConfig& c, backend::BackendPtr next,
                                const BuildContext& ctx) {
  return circuitbreaker::Wrap(static_cast<const circuitbreaker::Config&>(c), std::move(next),
                              ctx.backend != nullptr ? ctx.backend->url_pattern : "", ctx.registry,
                              ctx.backend_id);
}
backend::BackendPtr WrapProxyLimit(const config::ComponentConfig& c, backend::BackendPtr next,
                                   const BuildContext&) {
  return ratelimit::WrapProxy(static_cast<const ratelimit::ProxyConfig&>(c), std::move(next));
}
backend::BackendPtr WrapCache(const config::ComponentConfig& c, backend::BackendPtr next,
                              const BuildContext& ctx) {
  return httpcache::Wrap(static_cast<const httpcache::Config&>(c), std::move(next), *ctx.backend,
                         ctx.registry, ctx.backend_id);
}
template <auto kParse>
ConfigPtr AtBackend(config::ObjectReader& r, Scope s) {
  return s == Scope::kBackend ? kParse(r) : nullptr;
}

// auth/validator: endpoint level; at service level KrakenD reads only shared_cache_duration (a
// cache Sluice's per-URL key sources make unnecessary).
ConfigPtr ParseValidator(config::ObjectReader& r, Scope s) {
  if (s == Scope::kEndpoint) return auth::ParseValidator(r);
  if (s == Scope::kService) {
    r.CheckKeys({"shared_cache_duration"});
    r.Int("shared_cache_duration", 0, int64_t{365} * 86400);
    return nullptr;
  }
  r.Error("", "applies to an endpoint, not a backend");
  return nullptr;
}
pipeline::StagePtr ValidatorStage(const config::ComponentConfig& c, const BuildContext& ctx) {
  const auto& validator = static_cast<const auth::ValidatorConfig&>(c);
  std::shared_ptr<auth::RemoteKeys> remote;
  // Keys are fetched only when the gateway runs (workers > 0), never by `sluice check`.
  if (validator.local_keys == nullptr && validator.refuse_all.empty() && ctx.workers > 0) {
    remote = auth::RemoteKeys::For({validator.jwk_url, validator.cache_duration, validator.cooldown,
                                    absl::Seconds(5), validator.jwk_tls});
  }
  return std::make_unique<auth::ValidatorStage>(validator, std::move(remote),
                                                config::JwtPlaceholders(ctx.endpoint), ctx.workers);
}

// qos/ratelimit/router, per process or, under sluice/cluster-ratelimit, for the cluster (only
// when the gateway runs: `check` connects to nothing).
pipeline::StagePtr RouterLimitStage(const config::ComponentConfig& c, const BuildContext& ctx) {
  const auto& limits = static_cast<const ratelimit::RouterConfig&>(c);
  const auto* cluster = ctx.service.components.Get<clusterlimit::Config>(clusterlimit::kNamespace);
  if (cluster == nullptr || ctx.workers == 0) {
    return std::make_unique<ratelimit::RouterStage>(limits);
  }
  return std::make_unique<ratelimit::RouterStage>(
      limits, clusterlimit::RedisLimiter::For(*cluster, ctx.workers, ctx.registry),
      absl::StrCat(cluster->prefix, ctx.endpoint.method, " ", ctx.endpoint.path));
}

pipeline::StagePtr JsonSchemaStage(const config::ComponentConfig& c, const BuildContext& ctx) {
  const auto* router = ctx.service.components.Get<router::Config>(router::kNamespace);
  return std::make_unique<jsonschema::Stage>(static_cast<const jsonschema::Config&>(c),
                                             router != nullptr && router->return_error_msg,
                                             ctx.workers);
}

pipeline::StagePtr ProxyStage(const config::ComponentConfig& c, const BuildContext&) {
  const auto& proxy = static_cast<const proxy::EndpointConfig&>(c);
  if (!proxy.static_response) return nullptr;
  return std::make_unique<proxy::StaticStage>(*proxy.static_response);
}

// The components, in stack order. Namespaces with a null `parse` are read with the service
// settings (gateway/config/config.cc): listed so they are not reported as unimplemented.
const Component kComponents[] = {
    {"telemetry/logging"},
    {"telemetry/metrics"},
    {"sluice/http"},
    {"sluice/admin"},
    {router::kNamespace, &ParseRouter},
    // Applied by the dispatcher, outside every endpoint (components/security/cors/cors.h).
    {cors::kNamespace, &ParseCors},
    {httpsecure::kNamespace, &ParseHttpSecure},  // likewise, after CORS
    // Service level in the dispatcher after security/http; endpoint level a guard stage.
    {botdetector::kNamespace, &ParseBotDetector, Phase::kGuard,
     &StageOf<botdetector::Stage, botdetector::Config>},
    {auth::kValidatorNamespace, &ParseValidator, Phase::kGuard, &ValidatorStage},
    // After authentication (a refused token spends no tokens), as KrakenD.
    {ratelimit::kRouterNamespace, &OnlyAt<Scope::kEndpoint, &ratelimit::ParseRouter>, Phase::kGuard,
     &RouterLimitStage},
    // Read by the router limit's stage: its limits decided in Redis for the whole cluster.
    {clusterlimit::kNamespace, &OnlyAt<Scope::kService, &clusterlimit::Parse>},
    // In KrakenD's proxy pipe, after the router rate limit: a refused request spends its token.
    {jsonschema::kNamespace, &OnlyAt<Scope::kEndpoint, &jsonschema::Parse>, Phase::kGuard,
     &JsonSchemaStage},
    {grpc::kNamespace, &ParseGrpcCatalog},
    {proxy::kNamespace, &ParseProxy, Phase::kData, &ProxyStage},
    // Signs fields of the merged data (static data included), before it is rendered.
    {auth::kSignerNamespace, &OnlyAt<Scope::kEndpoint, &auth::ParseSigner>, Phase::kData,
     &StageOf<auth::SignerStage, auth::SignerConfig>},
    {backend_http::kNamespace, &AtBackend<&backend_http::Parse>},
    {sluice_backend::kNamespace, &AtBackend<&sluice_backend::Parse>},
    {backend_grpc::kNamespace, &AtBackend<&backend_grpc::Parse>},
    // Wraps the backend's stack below the metrics, so its refusals are counted (kRejected).
    // Inside the breaker, as KrakenD: a call the limit refuses counts as a breaker failure.
    {ratelimit::kProxyNamespace, &OnlyAt<Scope::kBackend, &ratelimit::ParseProxy>, Phase::kGuard,
     nullptr, &WrapProxyLimit},
    {circuitbreaker::kNamespace, &OnlyAt<Scope::kBackend, &circuitbreaker::Parse>, Phase::kGuard,
     nullptr, &WrapBreaker},
    // In the transport, as KrakenD's: it caches raw HTTP answers by URL.
    {httpcache::kNamespace, &OnlyAt<Scope::kBackend, &httpcache::Parse>, Phase::kGuard, nullptr,
     nullptr, &WrapCache},
};

const Component* Find(std::string_view name) {
  for (const Component& c : kComponents) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Says that `path` configures a protection Sluice does not enforce: an error, or with
// --allow-unprotected a warning and an entry in ServiceConfig::unprotected.
void Unenforced(const std::string& path, const char* what, Unprotected policy,
                config::ServiceConfig* service, config::Diagnostics* out) {
  if (policy == Unprotected::kRefuse) {
    out->errors.push_back(
        {path, absl::StrCat("not implemented by Sluice, so ", what,
                            " would NOT be protected: the file is refused (sluice run "
                            "--allow-unprotected runs it anyway, without that protection)")});
  } else {
    out->warnings.push_back(
        {path, absl::StrCat("warning: not implemented by Sluice, so it has no effect: ", what,
                            " is NOT protected (--allow-unprotected)")});
    service->unprotected.push_back(path);
  }
}

void ParseLevel(const nlohmann::json& extra, const std::string& owner_path, Scope scope,
                Unprotected policy, config::ServiceConfig* service, config::ComponentConfigs* out,
                config::Diagnostics* diagnostics) {
  if (!extra.is_object()) return;
  for (const auto& [name, value] : extra.items()) {
    const std::string path =
        absl::StrCat(owner_path, owner_path.empty() ? "" : ".", "extra_config.", name);
    const Component* component = Find(name);
    if (component == nullptr) {
      // Paths quote the namespace: it holds '/' like the path separators around it.
      const std::string quoted =
          absl::StrCat(owner_path, owner_path.empty() ? "" : ".", "extra_config.\"", name, "\"");
      if (config::IsProtective(name)) {
        Unenforced(quoted, "what it protects", policy, service, diagnostics);
      } else if (config::IsKnownNamespace(name) && name.rfind("sluice/", 0) != 0) {
        diagnostics->warnings.push_back(
            {quoted, "warning: not implemented by Sluice; it has no effect"});
      }
      continue;
    }
    if (component->parse == nullptr || value.is_null()) continue;
    config::ObjectReader reader(value, path, diagnostics);
    if (!reader.ok()) continue;
    if (ConfigPtr parsed = component->parse(reader, scope)) out->Add(name, std::move(parsed));
  }
}

void ParseAll(config::ServiceConfig* service, config::Diagnostics* out, Unprotected policy) {
  ParseLevel(service->extra_config, "", Scope::kService, policy, service, &service->components,
             out);
  for (config::Endpoint& e : service->endpoints) {
    ParseLevel(e.extra_config, e.json_path, Scope::kEndpoint, policy, service, &e.components, out);
    for (config::Backend& b : e.backends) {
      ParseLevel(b.extra_config, b.json_path, Scope::kBackend, policy, service, &b.components, out);
      // The cache stores HTTP answers; a gRPC backend's never pass through it.
      if (b.components.Get<httpcache::Config>(httpcache::kNamespace) != nullptr &&
          b.components.Get<backend_grpc::Config>(backend_grpc::kNamespace) != nullptr) {
        out->warnings.push_back(
            {absl::StrCat(b.json_path, ".extra_config.\"qos/http-cache\""),
             "warning: has no effect on a gRPC backend (it caches HTTP answers)"});
      }
    }
  }
}

config::ComponentParser ParserFor(Unprotected policy) {
  return policy == Unprotected::kRefuse ? &ParseComponents : &ParseComponentsAllowingUnprotected;
}

}  // namespace

absl::Span<const Component> Registry() { return kComponents; }

void ParseComponents(config::ServiceConfig* service, config::Diagnostics* out) {
  ParseAll(service, out, Unprotected::kRefuse);
}

void ParseComponentsAllowingUnprotected(config::ServiceConfig* service, config::Diagnostics* out) {
  ParseAll(service, out, Unprotected::kAllow);
}

config::LoadResult LoadConfigFile(const std::string& file_path, config::EnvLookup env,
                                  Unprotected unprotected) {
  return config::LoadConfigFile(file_path, env, ParserFor(unprotected));
}

config::LoadResult ParseConfig(std::string_view bytes, std::string_view file_path,
                               config::EnvLookup env, Unprotected unprotected) {
  return config::ParseConfig(bytes, file_path, env, ParserFor(unprotected));
}

}  // namespace sluice::components
