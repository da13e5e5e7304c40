#include "gateway/components/qos/ratelimit/proxy.h"

#include <utility>

#include "boost/asio/post.hpp"
#include "gateway/components/qos/ratelimit/rate.h"

namespace sluice::components::ratelimit {

namespace {

class LimitedBackend final : public backend::Backend {
 public:
  LimitedBackend(Rate rate, backend::BackendPtr next)
      : bucket_(std::make_unique<Bucket>(rate)), next_(std::move(next)) {}

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override {
    if (bucket_->Take(SteadyNanos())) {
      return next_->Call(std::move(request), ctx, deadline, std::move(done));
    }
    // Never inside Call (the Backend contract): the refusal is posted to the worker's loop.
    boost::asio::post(*ctx.ioc, [done = std::move(done)]() mutable {
      backend::BackendResponse refused;
      refused.error = backend::Error::Of(backend::ErrorKind::kRejected, "rate limit exceeded");
      done(std::move(refused));
    });
  }

 private:
  std::unique_ptr<Bucket> bucket_;  // changes while the backend is const
  backend::BackendPtr next_;
};

}  // namespace

std::shared_ptr<const ProxyConfig> ParseProxy(config::ObjectReader& r) {
  r.CheckKeys({"max_rate", "capacity", "every"});
  auto c = std::make_shared<ProxyConfig>();
  if (auto rate = ReadRate(r, "max_rate")) c->max_rate = *rate;
  if (auto n = r.Int("capacity", 0, kMaxCapacity)) c->capacity = *n;
  // Sub-second periods are allowed at this level, as KrakenD.
  if (auto every = r.Duration("every")) {
    if (*every <= absl::ZeroDuration()) {
      r.Error("every", "must be a positive duration");
    } else {
      c->every = absl::ToInt64Nanoseconds(*every);
    }
  }
  if (c->max_rate <= 0) {
    r.Error("",
            "sets no max_rate above 0, so it would limit nothing (the v1 spelling maxRate is "
            "not read)");
  }
  return c;
}

backend::BackendPtr WrapProxy(const ProxyConfig& config, backend::BackendPtr next) {
  const int64_t capacity = CapacityFor(config.max_rate, config.every, config.capacity);
  return std::make_unique<LimitedBackend>(MakeRate(config.max_rate, config.every, capacity),
                                          std::move(next));
}

}  // namespace sluice::components::ratelimit
