#include "gateway/pipeline/stack.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/backend/grpc/backend.h"
#include "gateway/backend/rest/backend.h"
#include "gateway/common/strings.h"
#include "gateway/components/backend/grpc/config.h"
#include "gateway/components/proxy/config.h"
#include "gateway/components/registry.h"
#include "gateway/components/router/config.h"
#include "gateway/pipeline/balance.h"
#include "gateway/pipeline/decode.h"
#include "gateway/pipeline/errors.h"
#include "gateway/pipeline/fan_out.h"
#include "gateway/pipeline/merge.h"
#include "gateway/pipeline/record.h"

namespace sluice::pipeline {

namespace {

using components::BuildContext;
using components::Phase;

const components::backend_grpc::Config* GrpcOptions(const config::Backend& b) {
  return b.components.Get<components::backend_grpc::Config>(components::backend_grpc::kNamespace);
}

bool IsSequential(const config::Endpoint& e) {
  const auto* proxy =
      e.components.Get<components::proxy::EndpointConfig>(components::proxy::kNamespace);
  return proxy != nullptr && proxy->sequential;
}

// Lura's endpoint handler writes the error text for no-op endpoints too (their transport
// failures; a no-op backend's status is never an error).
FailureOptions FailureOptionsOf(const config::ServiceConfig& service) {
  const auto* router =
      service.components.Get<components::router::Config>(components::router::kNamespace);
  FailureOptions o;
  o.return_error_msg = router != nullptr && router->return_error_msg;
  return o;
}

// The request recipe of one backend: url_pattern compiled against the endpoint's {params}.
absl::StatusOr<BackendCall> Recipe(const config::Endpoint& endpoint, const config::Backend& backend,
                                   bool grpc) {
  // A gRPC backend's url_pattern names its method: its request carries only the allow-listed
  // query strings and headers that become fields and metadata.
  // {JWT.claim} values follow the endpoint's params in the request's list (auth/validator adds
  // them).
  // Then the header and query-string values the DynamicInputs stage adds.
  std::vector<std::string> params = endpoint.params;
  for (std::string& claim : config::JwtPlaceholders(endpoint)) params.push_back(std::move(claim));
  for (std::string& input : config::InputPlaceholders(endpoint)) params.push_back(std::move(input));
  auto url = UrlTemplate::Compile(grpc ? "/" : backend.url_pattern, params, IsSequential(endpoint));
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(backend.json_path, ".url_pattern: ", url.status().message()));
  }
  BackendCall call;
  call.url = std::make_unique<UrlTemplate>(std::move(*url));
  call.spec.url = call.url.get();
  call.spec.method = backend.method.empty() ? endpoint.method : backend.method;
  call.spec.query_allow = &endpoint.input_query_strings;
  call.spec.header_allow = &endpoint.input_headers;
  call.spec.backend_query_allow =
      backend.input_query_strings ? &*backend.input_query_strings : nullptr;
  call.spec.backend_header_allow = backend.input_headers ? &*backend.input_headers : nullptr;
  call.spec.pass_accept_encoding = backend.encoding == config::BackendEncoding::kNoOp;
  call.spec.decode_query = grpc;
  return call;
}

// {input_headers.Name} and {input_query_strings.name} in url_patterns (KrakenD 2.x dynamic
// routing): the request's values become params after the guards (so a missing token is still
// 401); a request without one of them is answered 400 and no backend is called.
class DynamicInputs : public Stage {
 public:
  explicit DynamicInputs(std::vector<std::string> names) : names_(std::move(names)) {}
  std::string_view name() const override { return "dynamic-routing"; }

  StageResult OnRequest(RequestContext& ctx) const override {
    const http::Request& req = ctx.request();
    const std::string_view target = Sv(req.target());
    const size_t q = target.find('?');
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    for (const std::string& placeholder : names_) {
      std::optional<std::string> value;
      constexpr std::string_view kHeader = "input_headers.";
      if (placeholder.compare(0, kHeader.size(), kHeader) == 0) {
        auto it = req.find(Bv(std::string_view(placeholder).substr(kHeader.size())));
        if (it != req.end()) value = std::string(Sv(it->value()));
      } else {
        value =
            FirstQueryValue(query, std::string_view(placeholder).substr(placeholder.find('.') + 1));
      }
      if (!value) {
        http::Response res(boost::beast::http::status::bad_request, 11);
        res.set("X-Krakend-Completed", "false");
        ctx.response = std::move(res);
        return StageResult::kRespond;
      }
      ctx.params.emplace_back(placeholder, std::move(*value));
    }
    return StageResult::kContinue;
  }

 private:
  std::vector<std::string> names_;
};

// An endpoint with a backend Sluice has no client for (a ws:// or amqp:// host): 501, empty.
class NotImplemented : public Stage {
 public:
  std::string_view name() const override { return "not-implemented"; }
  StageResult OnRequest(RequestContext& ctx) const override {
    http::Response res(boost::beast::http::status::not_implemented, 11);
    res.set("X-Krakend-Completed", "false");
    ctx.response = std::move(res);
    return StageResult::kRespond;
  }
};

// `b` wrapped by the `wrap` hook of each component the backend configures, in registry order.
using WrapHook = backend::BackendPtr (*)(const config::ComponentConfig&, backend::BackendPtr,
                                         const BuildContext&);
backend::BackendPtr WrapWith(WrapHook components::Component::*wrap, const BuildContext& ctx,
                             backend::BackendPtr b) {
  for (const components::Component& c : components::Registry()) {
    if (c.*wrap == nullptr) continue;
    if (const auto* cfg = ctx.backend->components.Get<config::ComponentConfig>(c.name)) {
      b = (c.*wrap)(*cfg, std::move(b), ctx);
    }
  }
  return b;
}

// How a backend's answers reach the endpoint.
enum class Answers {
  kRaw,     // untouched (no-op endpoints)
  kDecode,  // status policy, decoder and shaper
  // The same, except that a JSON body is rendered for the client at once (DecodeAnswer's
  // render_direct): where every backend RendersDirect and nothing between reads `data`.
  kDecodeOrRender,
};

// A json backend whose answer can be rendered as it comes (a body by the decode stage, a gRPC
// reply by the backend): nothing shapes it but a `group`, and it is not a collection.
bool RendersDirect(const config::Backend& backend) {
  if (backend.encoding != config::BackendEncoding::kJson || backend.is_collection) return false;
  auto shaper = shaping::BackendShaper::Create(backend);
  return shaper.ok() && (shaper->is_identity() || shaper->group_only() != nullptr);
}

// A backend's stack, bottom first: transport -> transport components (HTTP cache) -> round
// robin over its hosts -> status policy, decoder and shaper (merging endpoints) -> backend-level
// components -> metrics -> concurrent calls. A layer whose feature is off is not there.
absl::StatusOr<backend::BackendPtr> BuildBackendStack(const config::ServiceConfig& service,
                                                      const config::Endpoint& endpoint,
                                                      const config::Backend& backend,
                                                      Answers answers, int backend_id, int workers,
                                                      const TransportFactory& transports,
                                                      metrics::Registry* registry) {
  absl::StatusOr<backend::BackendPtr> transport = transports(endpoint, backend);
  if (!transport.ok()) return transport.status();
  backend::BackendPtr b = std::move(*transport);
  const BuildContext ctx{service, endpoint, &backend, workers, registry, backend_id};
  // gRPC backends are not HTTP answers: the HTTP cache does not apply to them.
  if (GrpcOptions(backend) == nullptr)
    b = WrapWith(&components::Component::wrap_transport, ctx, std::move(b));
  b = std::make_unique<RoundRobin>(std::move(b), workers);
  if (answers != Answers::kRaw) {
    auto shaper = shaping::BackendShaper::Create(backend);
    if (!shaper.ok()) return shaper.status();
    std::optional<shaping::BackendShaper> maybe;
    if (!shaper->is_identity()) maybe = std::move(*shaper);
    BackendPolicy policy = BackendPolicy::FromConfig(backend);
    policy.status_error_prefix = StatusErrorPrefix(endpoint, backend);
    b = std::make_unique<Decode>(std::move(b), endpoint, backend, std::move(policy),
                                 std::move(maybe), answers == Answers::kDecodeOrRender);
  }
  b = WrapWith(&components::Component::wrap_backend, ctx, std::move(b));
  if (registry != nullptr) b = std::make_unique<RecordBackend>(std::move(b), *registry, backend_id);
  // Sequential chains call each backend once: a copy race would reorder the chain.
  if (endpoint.concurrent_calls > 1 && !IsSequential(endpoint)) {
    b = std::make_unique<ConcurrentCalls>(std::move(b), endpoint.concurrent_calls);
  }
  return b;
}

// The endpoint-level stages components add in `phase`, in registry order.
void AddComponentStages(Phase phase, const BuildContext& ctx, std::vector<StagePtr>* stages) {
  for (const components::Component& c : components::Registry()) {
    if (c.endpoint_stage == nullptr || c.phase != phase) continue;
    if (const auto* cfg = ctx.endpoint.components.Get<config::ComponentConfig>(c.name)) {
      if (StagePtr stage = c.endpoint_stage(*cfg, ctx)) stages->push_back(std::move(stage));
    }
  }
}

}  // namespace

TransportFactory DefaultTransports(Upstreams& upstreams) {
  return [&upstreams](const config::Endpoint&,
                      const config::Backend& b) -> absl::StatusOr<backend::BackendPtr> {
    if (b.hosts.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".host: no backend host"));
    }
    if (const auto* options = GrpcOptions(b)) {
      auto grpc = backend::grpc::GrpcBackend::Create(b, *options, *upstreams.grpc);
      if (!grpc.ok()) return grpc.status();
      return backend::BackendPtr(std::move(*grpc));
    }
    auto rest = backend::rest::RestBackend::Create(*upstreams.rest, b.hosts);
    if (!rest.ok()) {
      return absl::Status(rest.status().code(),
                          absl::StrCat(b.json_path, ".host: ", rest.status().message()));
    }
    return backend::BackendPtr(std::move(*rest));
  };
}

absl::StatusOr<std::unique_ptr<const Stack>> BuildEndpointStack(
    const config::ServiceConfig& service, const config::Endpoint& endpoint, int endpoint_slot,
    absl::Span<const int> backend_slots, int workers, const TransportFactory& transports,
    metrics::Registry* registry) {
  const bool no_op = endpoint.output_encoding == config::OutputEncoding::kNoOp;
  if (no_op && endpoint.backends.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(endpoint.json_path, ": no-op needs exactly one backend"));
  }
  for (const config::Backend& b : endpoint.backends) {
    if (b.unsupported_scheme.empty()) continue;
    std::vector<StagePtr> stages;
    if (registry != nullptr) {
      stages.push_back(std::make_unique<RecordEndpoint>(*registry, endpoint_slot));
    }
    stages.push_back(std::make_unique<NotImplemented>());
    return std::make_unique<const Stack>(std::move(stages));
  }
  const BuildContext ctx{service, endpoint, nullptr, workers, registry};
  // Stages that read the merged data (static data, the signer) come between merge and render.
  std::vector<StagePtr> data_stages;
  if (!no_op) AddComponentStages(Phase::kData, ctx, &data_stages);
  Answers answers = no_op ? Answers::kRaw : Answers::kDecode;
  if (!no_op && data_stages.empty() && !IsSequential(endpoint) &&
      endpoint.output_encoding == config::OutputEncoding::kJson &&
      std::all_of(endpoint.backends.begin(), endpoint.backends.end(), &RendersDirect)) {
    answers = Answers::kDecodeOrRender;
  }
  std::vector<BackendCall> calls;
  std::vector<bool> return_error_code;
  for (size_t i = 0; i < endpoint.backends.size(); ++i) {
    const config::Backend& b = endpoint.backends[i];
    const bool grpc = GrpcOptions(b) != nullptr;
    if (no_op && grpc) {
      return absl::InvalidArgumentError(
          absl::StrCat(endpoint.json_path,
                       ".output_encoding: a gRPC backend's answer is transcoded to JSON; "
                       "no-op cannot pass it through"));
    }
    absl::StatusOr<BackendCall> call = Recipe(endpoint, b, grpc);
    if (!call.ok()) return call.status();
    auto stack = BuildBackendStack(service, endpoint, b, answers, backend_slots[i], workers,
                                   transports, registry);
    if (!stack.ok()) return stack.status();
    call->stack = std::move(*stack);
    calls.push_back(std::move(*call));
    return_error_code.push_back(BackendPolicy::FromConfig(b).return_error_code);
  }

  // Top to bottom.
  std::vector<StagePtr> stages;
  if (registry != nullptr)
    stages.push_back(std::make_unique<RecordEndpoint>(*registry, endpoint_slot));
  stages.push_back(std::make_unique<ErrorMapping>(FailureOptionsOf(service)));
  AddComponentStages(Phase::kGuard, ctx, &stages);
  if (std::vector<std::string> inputs = config::InputPlaceholders(endpoint); !inputs.empty()) {
    stages.push_back(std::make_unique<DynamicInputs>(std::move(inputs)));
  }
  if (no_op) {
    stages.push_back(std::make_unique<NoOpProxy>(std::move(calls[0]),
                                                 LogPrefix(endpoint, endpoint.backends[0])));
    return std::make_unique<const Stack>(std::move(stages));
  }
  stages.push_back(std::make_unique<Render>(endpoint));
  for (StagePtr& stage : data_stages) stages.push_back(std::move(stage));
  stages.push_back(std::make_unique<Merge>(std::move(return_error_code), FailureOptionsOf(service),
                                           answers == Answers::kDecodeOrRender));
  if (IsSequential(endpoint)) {
    stages.push_back(std::make_unique<SequentialFanOut>(std::move(calls)));
  } else {
    stages.push_back(std::make_unique<ParallelFanOut>(std::move(calls)));
  }
  return std::make_unique<const Stack>(std::move(stages));
}

}  // namespace sluice::pipeline
