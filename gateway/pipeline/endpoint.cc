#include "gateway/pipeline/endpoint.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/decoders.h"
#include "gateway/encoding/json.h"
#include "gateway/encoding/renderers.h"
#include "gateway/http/wire.h"
#include "gateway/pipeline/merge.h"
#include "gateway/pipeline/policy.h"
#include "gateway/shaping/shaping.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;
using backend::ErrorKind;
using backend::rest::CallResult;

namespace {

// The one place a failed backend call becomes the client's status (KrakenD: 500, empty body).
unsigned HttpStatusForFailure(const backend::Error&) { return 500; }

std::string LogPrefix(const config::Endpoint& e, const config::Backend& b) {
  return absl::StrCat("[ENDPOINT: ", e.path, "][BACKEND: ", b.url_pattern, "]");
}

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Metrics of one endpoint and its backends, written from the worker thread that runs the
// request (per-worker counters: no lock, no contended atomic).
// With `sluice/http.metrics: false` only the clock reading for the timeout remains (one
// predictable branch per call; kept to measure what metrics cost).
class Recorder {
 public:
  Recorder(metrics::Registry& registry, int endpoint_id, bool enabled)
      : registry_(registry), endpoint_id_(endpoint_id), enabled_(enabled) {}

  Clock::time_point Begin(int worker) const {
    if (enabled_) registry_.endpoint(worker, endpoint_id_).in_flight.Add(1);
    return Clock::now();
  }

  void End(int worker, Clock::time_point start, const http::Response& res) const {
    if (!enabled_) return;
    metrics::EndpointStats& s = registry_.endpoint(worker, endpoint_id_);
    s.in_flight.Add(-1);
    const int cls = std::clamp(static_cast<int>(res.result_int() / 100) - 1, 0,
                               metrics::kStatusClasses - 1);
    s.requests[cls].Add();
    s.latency.Observe(SecondsSince(start));
    s.bytes_out.Add(res.body().size());
  }

  // One finished backend call; `error` is null on success.
  void Backend(int worker, int backend, Clock::time_point start,
               const backend::Error* error) const {
    if (!enabled_) return;
    metrics::BackendStats& s = registry_.backend(worker, backend);
    s.calls.Add();
    s.latency.Observe(SecondsSince(start));
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    if (error == nullptr) {
      s.last_success_unix_ms.store(now_ms, std::memory_order_relaxed);
      return;
    }
    s.failures[static_cast<int>(error->kind)].Add();
    {
      absl::MutexLock lock(&s.mu);
      s.last_error = std::string(backend::ToString(error->kind)) + ": " + error->message;
    }
    s.last_failure_unix_ms.store(now_ms, std::memory_order_relaxed);
  }

 private:
  metrics::Registry& registry_;
  int endpoint_id_;
  bool enabled_;
};

// ---------------------------------------------------------------------------------------------
// no-op: the single backend's status, headers and body go to the client unchanged.

class NoOpPipeline : public EndpointPipeline {
 public:
  NoOpPipeline(const config::Endpoint& endpoint, BackendProxy backend, Recorder recorder)
      : endpoint_(endpoint), backend_(std::move(backend)), recorder_(recorder),
        log_prefix_(LogPrefix(endpoint, backend_.config())) {}

  void Handle(http::ExchangePtr exchange, router::Params params,
              WorkerState& worker) const override {
    const Clock::time_point start = recorder_.Begin(worker.index);
    auto deadline = start + absl::ToChronoNanoseconds(endpoint_.timeout);
    std::string body = std::move(exchange->mutable_request().body());
    const http::Exchange& ex = *exchange;
    backend_.Call(worker, ex, params, std::move(body), deadline,
                  [this, start, w = worker.index, exchange = std::move(exchange)](
                      CallResult&& result) {
                    recorder_.Backend(w, backend_.index(), start,
                                      result.ok() ? nullptr : &result.error);
                    http::Response res = ToResponse(std::move(result));
                    recorder_.End(w, start, res);
                    exchange->Respond(std::move(res));
                  });
  }

 private:
  http::Response ToResponse(CallResult&& result) const {
    if (!result.ok()) {
      log::Warn("{} {}: {}", log_prefix_, backend::ToString(result.error.kind),
                result.error.message);
      http::Response failed(static_cast<bhttp::status>(HttpStatusForFailure(result.error)), 11);
      return failed;
    }
    http::Response out;
    out.version(11);
    // result_int(): result() maps codes Beast has no name for (418, 599...) to 0.
    out.result(result.response.result_int());
    for (const auto& field : result.response) {
      if (http::IsHopByHop(field.name())) continue;
      out.insert(field.name_string(), field.value());
    }
    out.body() = std::move(result.response.body());
    return out;
  }

  const config::Endpoint& endpoint_;
  BackendProxy backend_;
  Recorder recorder_;
  std::string log_prefix_;
};

// ---------------------------------------------------------------------------------------------
// Merging (every encoding but no-op): backends called in parallel; each answer goes through the
// status policy, its decoder and its shaper; the parts are merged in declaration order, static
// data is added by strategy, and the result is rendered in the endpoint's output encoding.

// One backend of a merging endpoint, built once.
struct BackendStage {
  BackendProxy proxy;
  BackendPolicy policy;
  std::optional<shaping::BackendShaper> shaper;  // absent when there is nothing to shape
  std::string log_prefix;
};

class MergingPipeline : public EndpointPipeline {
 public:
  MergingPipeline(const config::Endpoint& endpoint, std::vector<BackendStage> backends,
                  Merger merger, Recorder recorder)
      : endpoint_(endpoint), backends_(std::move(backends)), merger_(std::move(merger)),
        recorder_(recorder), sequential_(IsSequential(endpoint)),
        // Sequential chains call each backend once: a copy race would reorder the chain.
        concurrent_calls_(sequential_ ? 1 : std::max(1, endpoint.concurrent_calls)) {}

  void Handle(http::ExchangePtr exchange, router::Params params,
              WorkerState& worker) const override {
    const Clock::time_point start = recorder_.Begin(worker.index);
    auto deadline = start + absl::ToChronoNanoseconds(endpoint_.timeout);
    auto fan_out =
        std::make_shared<FanOut>(this, std::move(exchange), backends_.size(), worker.index, start);
    std::string body = std::move(fan_out->exchange->mutable_request().body());
    if (sequential_) {
      // One backend after the other; each may use earlier answers ({respN_...}).
      fan_out->params = std::move(params);
      fan_out->deadline = deadline;
      fan_out->body = std::move(body);
      fan_out->worker_state = &worker;
      fan_out->pending = 1;
      return CallSequential(fan_out, 0);
    }
    const int copies = concurrent_calls_;
    if (copies > 1) fan_out->outstanding.assign(backends_.size(), copies);
    for (size_t i = 0; i < backends_.size(); ++i) {
      for (int c = 0; c < copies; ++c) {
        // The last call takes the body; the others get copies (KrakenD clones the request).
        const bool last = i + 1 == backends_.size() && c + 1 == copies;
        std::string b = last ? std::move(body) : body;
        backends_[i].proxy.Call(worker, *fan_out->exchange, params, std::move(b), deadline,
                                [fan_out, i](CallResult&& r) {
                                  fan_out->OnResult(i, std::move(r));
                                });
      }
    }
  }

 private:
  // State of one request's parallel calls. Lives on one worker thread: no synchronisation.
  struct FanOut {
    FanOut(const MergingPipeline* p, http::ExchangePtr ex, size_t n, int w,
           Clock::time_point s)
        : pipeline(p), exchange(std::move(ex)), parts(n), pending(n), worker(w), start(s) {}

    void OnResult(size_t i, CallResult&& result) {
      if (!outstanding.empty()) {
        // concurrent_calls: the first good answer of backend i wins; later ones are dropped
        // (they finish within the deadline on their own). All failed: the last failure counts.
        if (outstanding[i] == 0) return;  // already settled
        Part part = pipeline->Decode(i, worker, start, std::move(result));
        --outstanding[i];
        if (!part.ok && outstanding[i] > 0) return;
        outstanding[i] = 0;
        parts[i] = std::move(part);
      } else {
        parts[i] = pipeline->Decode(i, worker, start, std::move(result));
      }
      if (pipeline->sequential_) {
        // KrakenD: the first backend failing fails the request; a later one gives a partial
        // answer. Sluice stops at that later failure too, since the next backend may need it.
        if (parts[i].ok && i + 1 < parts.size()) {
          return pipeline->CallSequential(shared_this(), i + 1);
        }
        if (!parts[i].ok && i == 0) {
          for (size_t k = 1; k < parts.size(); ++k) parts[k].error = parts[0].error;
        }
        pending = 1;
      }
      if (--pending > 0) return;
      const http::Request& req = exchange->request();
      auto accept = req.find(bhttp::field::accept);
      http::Response res =
          pipeline->merger_.Merge(parts, accept == req.end() ? std::string_view() : Sv(accept->value()));
      pipeline->recorder_.End(worker, start, res);
      exchange->Respond(std::move(res));
    }

    std::shared_ptr<FanOut> shared_this() { return self.lock(); }

    const MergingPipeline* pipeline;
    http::ExchangePtr exchange;
    std::vector<Part> parts;
    size_t pending;
    int worker;
    Clock::time_point start;
    std::vector<int> outstanding;  // concurrent_calls > 1: calls per backend still out
    // Sequential endpoints only: what later calls need.
    std::weak_ptr<FanOut> self;
    router::Params params;
    backend::rest::Deadline deadline;
    std::string body;
    WorkerState* worker_state = nullptr;
    std::vector<const nlohmann::json*> previous;
  };

  void CallSequential(const std::shared_ptr<FanOut>& fan_out, size_t i) const {
    fan_out->self = fan_out;
    fan_out->previous.clear();
    for (size_t k = 0; k < i; ++k) {
      fan_out->previous.push_back(fan_out->parts[k].data ? &*fan_out->parts[k].data : nullptr);
    }
    // KrakenD does not replay the body along a chain (lura#426): only the first backend gets it.
    std::string body = i == 0 ? std::move(fan_out->body) : std::string();
    backends_[i].proxy.Call(*fan_out->worker_state, *fan_out->exchange, fan_out->params,
                            std::move(body), fan_out->deadline,
                            [fan_out, i](CallResult&& r) { fan_out->OnResult(i, std::move(r)); },
                            &fan_out->previous);
  }

  // Status policy, decoder and shaper of backend `i`; logs and records the outcome.
  Part Decode(size_t i, int worker, Clock::time_point start, CallResult&& result) const {
    const BackendStage& stage = backends_[i];
    Part part = DecodeAnswer(stage.proxy.config(), stage.policy,
                             stage.shaper ? &*stage.shaper : nullptr, std::move(result));
    if (part.error.kind == backend::ErrorKind::kRequest) {
      // The client's mistake, answered 400: at debug level, so clients cannot flood the log.
      log::Debug("{} {}: {}", stage.log_prefix, backend::ToString(part.error.kind),
                 part.error.message);
    } else if (!part.ok) {
      log::Warn("{} {}: {}", stage.log_prefix, backend::ToString(part.error.kind),
                part.error.message);
    }
    recorder_.Backend(worker, stage.proxy.index(), start, part.ok ? nullptr : &part.error);
    return part;
  }

  const config::Endpoint& endpoint_;
  std::vector<BackendStage> backends_;
  Merger merger_;
  Recorder recorder_;
  bool sequential_;
  int concurrent_calls_;
};

}  // namespace

bool IsSequential(const config::Endpoint& endpoint) {
  auto proxy = endpoint.extra_config.find("proxy");
  if (proxy == endpoint.extra_config.end() || !proxy->is_object()) return false;
  auto seq = proxy->find("sequential");
  return seq != proxy->end() && *seq == true;
}

bool IsGrpc(const config::Backend& backend) {
  return backend.extra_config.contains("backend/grpc");
}

absl::StatusOr<BackendProxy> BackendProxy::Create(const config::Endpoint& endpoint,
                                                  const config::Backend& backend, int index,
                                                  std::vector<int> host_slots,
                                                  backend::grpc::Runtime& grpc) {
  std::shared_ptr<const backend::grpc::Backend> grpc_backend;
  if (IsGrpc(backend)) {
    auto created = backend::grpc::Backend::Create(endpoint, backend, grpc);
    if (!created.ok()) return created.status();
    grpc_backend = std::move(*created);
  }
  // A gRPC backend's url_pattern names its method: the forwarded request only carries the
  // allow-listed query strings and headers that become fields and metadata.
  auto url = UrlTemplate::Compile(grpc_backend ? "/" : backend.url_pattern, endpoint.params,
                                  IsSequential(endpoint));
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(backend.json_path, ".url_pattern: ", url.status().message()));
  }
  BackendProxy p;
  p.config_ = &backend;
  p.index_ = index;
  p.host_slots_ = std::move(host_slots);
  p.url_ = std::make_unique<UrlTemplate>(std::move(*url));
  p.spec_.url = p.url_.get();
  p.spec_.method = backend.method.empty() ? endpoint.method : backend.method;
  p.spec_.query_allow = &endpoint.input_query_strings;
  p.spec_.header_allow = &endpoint.input_headers;
  p.spec_.backend_query_allow = backend.input_query_strings ? &*backend.input_query_strings : nullptr;
  p.spec_.backend_header_allow = backend.input_headers ? &*backend.input_headers : nullptr;
  p.spec_.pass_accept_encoding = backend.encoding == config::BackendEncoding::kNoOp;
  p.grpc_ = std::move(grpc_backend);
  return p;
}

void BackendProxy::Call(WorkerState& worker, const http::Exchange& exchange,
                        const router::Params& params, std::string body,
                        backend::rest::Deadline deadline, backend::rest::Callback done,
                        const std::vector<const nlohmann::json*>* previous) const {
  if (grpc_) {
    http::Request forwarded = BuildBackendRequest(spec_, exchange.request(), exchange.client_ip(),
                                                  params, std::string(), previous);
    grpc_->Call(forwarded, params, body, deadline, worker.round_robin[index_]++, *worker.ioc,
                std::move(done));
    return;
  }
  http::Request req = BuildBackendRequest(spec_, exchange.request(), exchange.client_ip(), params,
                                          std::move(body), previous);
  uint32_t& rr = worker.round_robin[index_];
  const int slot = host_slots_[rr % host_slots_.size()];
  ++rr;
  worker.client->Send(slot, std::move(req), deadline, std::move(done));
}

absl::StatusOr<std::unique_ptr<EndpointPipeline>> BuildEndpointPipeline(
    const config::ServiceConfig& service, const config::Endpoint& endpoint, int endpoint_id,
    int* next_backend_index, const std::function<int(const config::HostAddress&)>& register_host,
    backend::grpc::Runtime& grpc, metrics::Registry& registry) {
  const Recorder recorder(registry, endpoint_id, service.tuning.metrics);
  std::vector<BackendProxy> backends;
  for (const config::Backend& b : endpoint.backends) {
    std::vector<int> slots;
    if (b.hosts.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".host: no backend host"));
    }
    if (!IsGrpc(b)) {
      for (const config::HostAddress& h : b.hosts) slots.push_back(register_host(h));
    }
    auto proxy =
        BackendProxy::Create(endpoint, b, (*next_backend_index)++, std::move(slots), grpc);
    if (!proxy.ok()) return proxy.status();
    backends.push_back(std::move(*proxy));
  }
  if (endpoint.output_encoding == config::OutputEncoding::kNoOp) {
    if (backends.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(endpoint.json_path, ": no-op needs exactly one backend"));
    }
    if (IsGrpc(backends[0].config())) {
      return absl::InvalidArgumentError(absl::StrCat(
          endpoint.json_path, ".output_encoding: a gRPC backend's answer is transcoded to JSON; "
                              "no-op cannot pass it through"));
    }
    return std::make_unique<NoOpPipeline>(endpoint, std::move(backends[0]), recorder);
  }
  auto endpoint_policy = EndpointPolicy::FromConfig(service, endpoint);
  if (!endpoint_policy.ok()) return endpoint_policy.status();
  std::vector<BackendStage> stages;
  std::vector<bool> return_error_code;
  for (BackendProxy& proxy : backends) {
    const config::Backend& cfg = proxy.config();
    if (cfg.encoding == config::BackendEncoding::kNoOp && !IsGrpc(cfg)) {
      return absl::InvalidArgumentError(absl::StrCat(
          cfg.json_path, ".encoding: no-op backends need the endpoint's output_encoding no-op"));
    }
    auto policy = BackendPolicy::FromConfig(cfg);
    if (!policy.ok()) return policy.status();
    auto shaper = shaping::BackendShaper::Create(cfg);
    if (!shaper.ok()) return shaper.status();
    BackendStage stage{std::move(proxy), std::move(*policy), std::nullopt,
                       LogPrefix(endpoint, cfg)};
    if (!shaper->is_identity()) stage.shaper = std::move(*shaper);
    return_error_code.push_back(stage.policy.return_error_code);
    stages.push_back(std::move(stage));
  }
  Merger merger(endpoint, std::move(*endpoint_policy), std::move(return_error_code));
  return std::make_unique<MergingPipeline>(endpoint, std::move(stages), std::move(merger),
                                           recorder);
}

}  // namespace sluice::pipeline
