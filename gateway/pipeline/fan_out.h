#pragma once

// The bottom stages of an endpoint's stack: they call its backends' stacks and resume the
// endpoint's stack with the answers.
//   Parallel:   every backend at once (KrakenD's default); ctx.answers in declaration order
//   Sequential: one after the other (proxy.sequential); each sees earlier answers ({respN_x})
//   NoOp:       the single backend's status, headers and body become the client's answer

#include <memory>
#include <string>
#include <vector>

#include "gateway/backend/backend.h"
#include "gateway/config/config.h"
#include "gateway/pipeline/request_builder.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline {

// How one backend of an endpoint is called: its request recipe and its backend stack.
struct BackendCall {
  std::unique_ptr<UrlTemplate> url;  // spec.url points here
  BackendRequestSpec spec;
  backend::BackendPtr stack;
};

class ParallelFanOut final : public Stage {
 public:
  explicit ParallelFanOut(std::vector<BackendCall> backends) : backends_(std::move(backends)) {}
  std::string_view name() const override { return "fan-out"; }
  StageResult OnRequest(RequestContext& ctx) const override;

 private:
  std::vector<BackendCall> backends_;
};

class SequentialFanOut final : public Stage {
 public:
  explicit SequentialFanOut(std::vector<BackendCall> backends) : backends_(std::move(backends)) {}
  std::string_view name() const override { return "sequential"; }
  // KrakenD: the first backend failing fails the request; a later one gives a partial answer.
  // Sluice stops at that later failure too, since the next backend may need its answer.
  StageResult OnRequest(RequestContext& ctx) const override;

 private:
  void CallNext(const ContextPtr& ctx, size_t i) const;
  std::vector<BackendCall> backends_;
};

class NoOpProxy final : public Stage {
 public:
  NoOpProxy(BackendCall backend, std::string log_prefix)
      : backend_(std::move(backend)), log_prefix_(std::move(log_prefix)) {}
  std::string_view name() const override { return "no-op"; }
  StageResult OnRequest(RequestContext& ctx) const override;

 private:
  BackendCall backend_;
  std::string log_prefix_;
};

}  // namespace sluice::pipeline
