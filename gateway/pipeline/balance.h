#pragma once

// Backend-level stages that decide how a request reaches a backend's hosts:
//   RoundRobin: which host of the backend's `host` list (per worker, so no shared counter)
//   ConcurrentCalls: KrakenD's concurrent_calls, n copies of the call; the first success wins

#include <memory>
#include <vector>

#include "gateway/backend/backend.h"

namespace sluice::pipeline {

class RoundRobin final : public backend::Backend {
 public:
  RoundRobin(backend::BackendPtr next, int workers);

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

 private:
  // One counter per worker, each on its own cache line: written only by its worker.
  struct alignas(64) Counter {
    uint32_t next = 0;
  };
  backend::BackendPtr next_;
  mutable std::vector<Counter> counters_;
};

class ConcurrentCalls final : public backend::Backend {
 public:
  ConcurrentCalls(backend::BackendPtr next, int copies) : next_(std::move(next)), copies_(copies) {}

  // Sends `copies` identical calls (the last takes the body, the others copies, as KrakenD clones
  // the request). The first successful answer is passed on at once; the later ones are dropped
  // as they finish (within the deadline). When all fail, the last failure is passed on.
  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

 private:
  backend::BackendPtr next_;
  int copies_;
};

}  // namespace sluice::pipeline
