#include "gateway/pipeline/fan_out.h"

#include <utility>

#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::pipeline {

namespace {

backend::BackendRequest Build(const BackendCall& call, RequestContext& ctx, std::string body,
                              const std::vector<const nlohmann::json*>* previous = nullptr) {
  return BuildBackendRequest(call.spec, ctx.request(), ctx.exchange->client_ip(), ctx.params,
                             std::move(body), ctx.request_id, previous);
}

}  // namespace

StageResult ParallelFanOut::OnRequest(RequestContext& ctx) const {
  const size_t n = backends_.size();
  ctx.answers.resize(n);
  ctx.pending = n;
  std::string body = std::move(ctx.exchange->mutable_request().body());
  ContextPtr self = ctx.shared_from_this();
  for (size_t i = 0; i < n; ++i) {
    // The last call takes the body; the others get copies (KrakenD clones the request).
    std::string b = i + 1 == n ? std::move(body) : body;
    backends_[i].stack->Call(Build(backends_[i], ctx, std::move(b)), ctx.call, ctx.deadline,
                             [self, i](backend::BackendResponse&& answer) {
                               self->answers[i] = std::move(answer);
                               if (--self->pending == 0) self->Resume(StageResult::kRespond);
                             });
  }
  return StageResult::kPending;
}

StageResult SequentialFanOut::OnRequest(RequestContext& ctx) const {
  ctx.answers.resize(backends_.size());
  CallNext(ctx.shared_from_this(), 0);
  return StageResult::kPending;
}

void SequentialFanOut::CallNext(const ContextPtr& ctx, size_t i) const {
  std::vector<const nlohmann::json*> previous;
  previous.reserve(i);
  for (size_t k = 0; k < i; ++k) {
    previous.push_back(ctx->answers[k].data ? &*ctx->answers[k].data : nullptr);
  }
  // KrakenD does not replay the body along a chain (lura#426): only the first backend gets it.
  std::string body = i == 0 ? std::move(ctx->exchange->mutable_request().body()) : std::string();
  backends_[i].stack->Call(Build(backends_[i], *ctx, std::move(body), &previous), ctx->call,
                           ctx->deadline, [this, ctx, i](backend::BackendResponse&& answer) {
                             const bool ok = answer.ok();
                             ctx->answers[i] = std::move(answer);
                             if (ok && i + 1 < backends_.size()) return CallNext(ctx, i + 1);
                             // The chain stops here: the backends not called count as failed, for
                             // the same reason.
                             for (size_t k = i + 1; k < backends_.size(); ++k)
                               ctx->answers[k].error = ctx->answers[i].error;
                             ctx->Resume(StageResult::kRespond);
                           });
}

StageResult NoOpProxy::OnRequest(RequestContext& ctx) const {
  std::string body = std::move(ctx.exchange->mutable_request().body());
  backend_.stack->Call(Build(backend_, ctx, std::move(body)), ctx.call, ctx.deadline,
                       [this, self = ctx.shared_from_this()](backend::BackendResponse&& answer) {
                         if (!answer.ok()) {
                           log::Warn("[{}] {} {}: {}", self->request_id, log_prefix_,
                                     backend::ToString(answer.error.kind), answer.error.message);
                           self->failure = Failure{std::move(answer.error), false, {}};
                           return self->Resume(StageResult::kRespond);
                         }
                         // Built in place: an answer moved is its fields moved.
                         http::Response& out = self->response.emplace();
                         out.version(11);
                         // result_int(): result() maps codes Beast has no name for (418, 599...) to
                         // 0.
                         out.result(answer.status);
                         // Lura's handler marks any answer without decoded data incomplete, then
                         // the no-op render adds the backend's headers.
                         if (answer.headers.count(Bv(http::kCompletedHeader)) == 0) {
                           // The backend's fields moved rather than copied one by one (the
                           // marker's value cannot follow a backend's own here).
                           static_cast<backend::Fields&>(out) = std::move(answer.headers);
                           for (auto it = out.begin(); it != out.end();) {
                             it = http::IsHopByHop(it->name()) ? out.erase(it) : std::next(it);
                           }
                           out.insert(Bv(http::kCompletedHeader), "false");
                         } else {
                           out.set(Bv(http::kCompletedHeader), "false");
                           for (const auto& field : answer.headers) {
                             if (http::IsHopByHop(field.name())) continue;
                             out.insert(field.name_string(), field.value());
                           }
                         }
                         out.body() = std::move(answer.body);
                         self->Resume(StageResult::kRespond);
                       });
  return StageResult::kPending;
}

}  // namespace sluice::pipeline
