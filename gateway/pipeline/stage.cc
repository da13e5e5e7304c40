#include "gateway/pipeline/stage.h"

#include "gateway/common/logging.h"

namespace sluice::pipeline {

void RequestContext::Resume(StageResult result) {
  if (result == StageResult::kContinue) {
    ++at_;
    return stack_->Forward(*this);
  }
  stack_->Backward(*this, at_);
}

void Stack::Start(ContextPtr ctx) const {
  ctx->stack_ = this;
  ctx->at_ = 0;
  Forward(*ctx);
}

void Stack::Forward(RequestContext& ctx) const {
  for (; ctx.at_ < stages_.size(); ++ctx.at_) {
    switch (stages_[ctx.at_]->OnRequest(ctx)) {
      case StageResult::kContinue:
        continue;
      case StageResult::kRespond:
        return Backward(ctx, ctx.at_);
      case StageResult::kPending:
        return;
    }
  }
  // Every stage passed the request on: the stack has no bottom stage that calls backends. Only a
  // mis-assembled stack gets here; the client still gets an answer (a 500, below).
  Backward(ctx, stages_.size() - 1);
}

void Stack::Backward(RequestContext& ctx, size_t from) const {
  for (size_t i = from + 1; i-- > 0;) stages_[i]->OnResponse(ctx);
  if (!ctx.response) {
    log::Error("[{}] no stage answered: internal error", ctx.request_id);
    ctx.response.emplace(boost::beast::http::status::internal_server_error, 11);
  }
  ctx.exchange->Respond(std::move(*ctx.response));
}

}  // namespace sluice::pipeline
