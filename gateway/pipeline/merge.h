#pragma once

// The merging half of an endpoint's stack (every output encoding but no-op):
//   Merge:  the backends' answers (already decoded and shaped) become one object, in
//           declaration order, or a Failure when none produced data
//   Render: that object becomes the client's answer in the endpoint's output encoding
// Between them a component may change the data (proxy/static).

#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/pipeline/errors.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline {

class Merge final : public Stage {
 public:
  // `return_error_code[i]` is backend i's backend/http return_error_code.
  // `rendered`: the backends' decode stages render their answers (Answers::kDecodeOrRender in
  // stack.cc); only the stage's name says so, the merge handles both forms either way.
  Merge(std::vector<bool> return_error_code, FailureOptions failure_options, bool rendered = false)
      : return_error_code_(std::move(return_error_code)),
        failure_options_(failure_options),
        rendered_(rendered) {}

  std::string_view name() const override { return rendered_ ? "merge-rendered" : "merge"; }
  StageResult OnRequest(RequestContext&) const override { return StageResult::kContinue; }
  // Declaration order: a later backend's key overwrites an earlier one's, deterministically
  // (KrakenD merges in arrival order). A request no backend could take (a client mistake the
  // gRPC mapping found) is answered 400 at once, whatever the other backends said.
  void OnResponse(RequestContext& ctx) const override;

 private:
  // No backend produced data: why. KrakenD: 500 with an empty body; with return_error_code the
  // failed backend's status; a failed gRPC backend its mapped status.
  Failure FailureOf(std::vector<backend::BackendResponse>& answers) const;

  std::vector<bool> return_error_code_;
  FailureOptions failure_options_;
  bool rendered_;
};

class Render final : public Stage {
 public:
  explicit Render(const config::Endpoint& endpoint);

  std::string_view name() const override { return "render"; }
  StageResult OnRequest(RequestContext&) const override { return StageResult::kContinue; }
  // Renders ctx.data for the client's Accept; sets X-Krakend-Completed, Cache-Control (cache_ttl,
  // complete answers only) and the headers backends passed on (return_headers).
  void OnResponse(RequestContext& ctx) const override;

 private:
  const config::Endpoint& endpoint_;
  std::string cache_control_;  // empty without cache_ttl
};

}  // namespace sluice::pipeline
