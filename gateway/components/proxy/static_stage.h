#pragma once

// proxy.static: adds fixed data to an endpoint's merged answer, by strategy (always, success,
// complete, errored, incomplete). Sits between the merge and render stages of a merging
// endpoint's stack; absent from the stack when the endpoint has no `static`.

#include "gateway/components/proxy/config.h"
#include "gateway/pipeline/stage.h"

namespace sluice::components::proxy {

class StaticStage final : public pipeline::Stage {
 public:
  explicit StaticStage(StaticResponse response) : response_(std::move(response)) {}

  std::string_view name() const override { return "proxy/static"; }
  pipeline::StageResult OnRequest(pipeline::RequestContext&) const override {
    return pipeline::StageResult::kContinue;
  }
  // Adds the static keys (overwriting the backends' on collision) when the strategy applies to
  // whether every backend answered.
  void OnResponse(pipeline::RequestContext& ctx) const override;

 private:
  StaticResponse response_;
};

}  // namespace sluice::components::proxy
