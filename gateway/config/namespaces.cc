#include "gateway/config/namespaces.h"

#include <algorithm>
#include <utility>

namespace sluice::config {

namespace {

// KrakenD 1.x (format 2) extra_config namespaces and their KrakenD 2.x (format 3) names, from
// krakend-config-migrator. Keys use the `github.com/` spelling; `github_com/` is folded onto it.
constexpr std::pair<std::string_view, std::string_view> kNamespaceRenames[] = {
    {"github.com/devopsfaith/krakend-gologging", "telemetry/logging"},
    {"github.com/devopsfaith/krakend-gelf", "telemetry/gelf"},
    {"github.com/devopsfaith/krakend-logstash", "telemetry/logstash"},
    {"github.com/devopsfaith/krakend-metrics", "telemetry/metrics"},
    {"github.com/devopsfaith/krakend-influx", "telemetry/influx"},
    {"github.com/letgoapp/krakend-influx", "telemetry/influx"},
    {"github.com/devopsfaith/krakend-opencensus", "telemetry/opencensus"},
    {"github.com/devopsfaith/krakend-cors", "security/cors"},
    {"github.com/devopsfaith/krakend-httpsecure", "security/http"},
    {"github.com/devopsfaith/krakend-botdetector", "security/bot-detector"},
    {"github.com/devopsfaith/bloomfilter", "auth/revoker"},
    {"github.com/devopsfaith/krakend-jose/validator", "auth/validator"},
    {"github.com/devopsfaith/krakend-jose/signer", "auth/signer"},
    {"github.com/devopsfaith/krakend-oauth2-clientcredentials", "auth/client-credentials"},
    {"github.com/luraproject/lura/router/gin", "router"},
    {"github.com/devopsfaith/krakend/router/gin", "router"},
    {"github.com/devopsfaith/krakend/proxy", "proxy"},
    {"github.com/devopsfaith/krakend/http", "backend/http"},
    {"github.com/devopsfaith/krakend-ratelimit/juju/router", "qos/ratelimit/router"},
    {"github.com/devopsfaith/krakend-ratelimit/juju/proxy", "qos/ratelimit/proxy"},
    {"github.com/devopsfaith/krakend-circuitbreaker/gobreaker", "qos/circuit-breaker"},
    {"github.com/devopsfaith/krakend-httpcache", "qos/http-cache"},
    {"github.com/devopsfaith/krakend-jsonschema", "validation/json-schema"},
    {"github.com/devopsfaith/krakend-cel", "validation/cel"},
    {"github.com/devopsfaith/krakend-lua/router", "modifier/lua-endpoint"},
    {"github.com/devopsfaith/krakend-lua/proxy", "modifier/lua-proxy"},
    {"github.com/devopsfaith/krakend-lua/proxy/backend", "modifier/lua-backend"},
    {"github.com/devopsfaith/krakend-martian", "modifier/martian"},
    {"github.com/devopsfaith/krakend-amqp/consume", "backend/amqp/consumer"},
    {"github.com/devopsfaith/krakend-amqp/produce", "backend/amqp/producer"},
    {"github.com/devopsfaith/krakend-pubsub/subscriber", "backend/pubsub/subscriber"},
    {"github.com/devopsfaith/krakend-pubsub/publisher", "backend/pubsub/publisher"},
    {"github.com/devopsfaith/krakend-lambda", "backend/lambda"},
    {"github.com/devopsfaith/krakend/transport/http/server/handler", "plugin/http-server"},
    {"github.com/devopsfaith/krakend/transport/http/client/executor", "plugin/http-client"},
};

// Namespaces whose components restrict traffic.
constexpr std::string_view kProtective[] = {
    "auth/validator",        "auth/api-keys",         "auth/basic",
    "auth/revoker",          "auth/signer",           "security/cors",
    "security/http",         "security/bot-detector", "security/policies",
    "qos/ratelimit/router",  "qos/ratelimit/proxy",   "qos/ratelimit/tiered",
    "qos/ratelimit/service", "qos/circuit-breaker",   "validation/json-schema",
    "validation/cel"};
// Every other namespace KrakenD documents.
constexpr std::string_view kOther[] = {"telemetry/logging",
                                       "telemetry/metrics",
                                       "router",
                                       "proxy",
                                       "backend/http",
                                       "grpc",
                                       "backend/grpc",
                                       "auth/client-credentials",
                                       "auth/gcp",
                                       "auth/ntlm",
                                       "qos/http-cache",
                                       "modifier/lua-endpoint",
                                       "modifier/lua-proxy",
                                       "modifier/lua-backend",
                                       "modifier/martian",
                                       "modifier/jmespath",
                                       "modifier/request-body-generator",
                                       "modifier/response-body-generator",
                                       "backend/amqp/consumer",
                                       "backend/amqp/producer",
                                       "backend/pubsub/subscriber",
                                       "backend/pubsub/publisher",
                                       "backend/lambda",
                                       "backend/graphql",
                                       "backend/soap",
                                       "backend/static-filesystem",
                                       "server/static-filesystem",
                                       "plugin/http-server",
                                       "plugin/http-client",
                                       "plugin/req-resp-modifier",
                                       "websocket",
                                       "telemetry/opencensus",
                                       "telemetry/opentelemetry",
                                       "telemetry/newrelic",
                                       "telemetry/gelf",
                                       "telemetry/influx",
                                       "telemetry/logstash",
                                       "telemetry/moesif",
                                       "documentation/openapi"};

template <typename List>
bool Contains(const List& list, std::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

}  // namespace

std::string CanonicalNamespace(std::string_view ns) {
  std::string key(ns);
  if (key.rfind("github_com/", 0) == 0) key = "github.com/" + key.substr(11);
  for (const auto& [old_name, new_name] : kNamespaceRenames) {
    if (key == old_name) return std::string(new_name);
  }
  return std::string(ns);
}

bool IsProtective(std::string_view name) { return Contains(kProtective, name); }

bool IsKnownNamespace(std::string_view name) {
  return name.rfind("sluice/", 0) == 0 || Contains(kProtective, name) || Contains(kOther, name);
}

}  // namespace sluice::config
