#include "gateway/pipeline/record.h"

#include <algorithm>
#include <string>
#include <utility>

#include "gateway/common/clock.h"

namespace sluice::pipeline {

namespace {

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

StageResult RecordEndpoint::OnRequest(RequestContext& ctx) const {
  registry_.endpoint(ctx.call.worker, endpoint_id_).in_flight.Add(1);
  return StageResult::kContinue;
}

void RecordEndpoint::OnResponse(RequestContext& ctx) const {
  metrics::EndpointStats& s = registry_.endpoint(ctx.call.worker, endpoint_id_);
  s.in_flight.Add(-1);
  // No answer yet is the stack's 500 (see Stack::Backward).
  const unsigned status = ctx.response ? ctx.response->result_int() : 500;
  const int cls = std::clamp(static_cast<int>(status / 100) - 1, 0, metrics::kStatusClasses - 1);
  s.requests[cls].Add();
  s.latency.Observe(SecondsSince(ctx.start));
  if (ctx.response) s.bytes_out.Add(ctx.response->body().size());
}

void RecordBackend::Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
                         backend::Deadline deadline, backend::Done done) const {
  const Clock::time_point start = Clock::now();
  next_->Call(std::move(request), ctx, deadline,
              [this, worker = ctx.worker, start,
               done = std::move(done)](backend::BackendResponse&& answer) mutable {
                metrics::BackendStats& s = registry_.backend(worker, backend_id_);
                s.calls.Add();
                s.latency.Observe(SecondsSince(start));
                const int64_t now_ms = UnixMillis();
                if (answer.ok()) {
                  s.last_success_unix_ms.store(now_ms, std::memory_order_relaxed);
                } else {
                  s.failures[static_cast<int>(answer.error.kind)].Add();
                  {
                    absl::MutexLock lock(&s.mu);
                    s.last_error = std::string(backend::ToString(answer.error.kind)) + ": " +
                                   answer.error.message;
                  }
                  s.last_failure_unix_ms.store(now_ms, std::memory_order_relaxed);
                }
                done(std::move(answer));
              });
}

}  // namespace sluice::pipeline
