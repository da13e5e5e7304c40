#pragma once

// Request metrics as stages: the endpoint's (top of its stack) and each backend's (the outermost
// backend-level stage, so it sees every failure below, decode and policy included). Written from
// the request's worker thread into that worker's counters: no lock, no contended atomic. With
// `sluice/http.metrics: false` neither is in the stack.

#include "gateway/backend/backend.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline {

class RecordEndpoint final : public Stage {
 public:
  RecordEndpoint(metrics::Registry& registry, int endpoint_id)
      : registry_(registry), endpoint_id_(endpoint_id) {}

  std::string_view name() const override { return "metrics"; }
  StageResult OnRequest(RequestContext& ctx) const override;
  void OnResponse(RequestContext& ctx) const override;

 private:
  metrics::Registry& registry_;
  int endpoint_id_;
};

class RecordBackend final : public backend::Backend {
 public:
  RecordBackend(backend::BackendPtr next, metrics::Registry& registry, int backend_id)
      : next_(std::move(next)), registry_(registry), backend_id_(backend_id) {}

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

 private:
  backend::BackendPtr next_;
  metrics::Registry& registry_;
  int backend_id_;
};

}  // namespace sluice::pipeline
