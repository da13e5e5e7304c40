#include "gateway/pipeline/balance.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace sluice::pipeline {

RoundRobin::RoundRobin(backend::BackendPtr next, int workers)
    : next_(std::move(next)), counters_(static_cast<size_t>(std::max(workers, 0))) {}

void RoundRobin::Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
                      backend::Deadline deadline, backend::Done done) const {
  request.host = counters_[ctx.worker].next++;
  next_->Call(std::move(request), ctx, deadline, std::move(done));
}

void ConcurrentCalls::Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
                           backend::Deadline deadline, backend::Done done) const {
  // Shared by the copies' callbacks, on one worker thread: no synchronisation.
  struct Race {
    backend::Done done;
    int outstanding;
  };
  auto race = std::make_shared<Race>(Race{std::move(done), copies_});
  for (int c = 0; c < copies_; ++c) {
    backend::BackendRequest copy = c + 1 == copies_ ? std::move(request) : request;
    next_->Call(std::move(copy), ctx, deadline, [race](backend::BackendResponse&& answer) {
      if (!race->done) return;  // already settled
      --race->outstanding;
      if (!answer.ok() && race->outstanding > 0) return;  // wait for another copy
      backend::Done done = std::move(race->done);
      race->done = nullptr;
      done(std::move(answer));
    });
  }
}

}  // namespace sluice::pipeline
