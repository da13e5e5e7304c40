#include "gateway/components/qos/ratelimit/router.h"

#include <arpa/inet.h>

#include <array>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/strings.h"
#include "gateway/components/qos/ratelimit/rate.h"

namespace sluice::components::ratelimit {

namespace {

namespace bhttp = boost::beast::http;

http::Response Refusal(bhttp::status status) { return http::Response(status, 11); }

bool IsIpv4(std::string_view s) {
  char text[INET_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof(text)) return false;
  s.copy(text, s.size());
  text[s.size()] = '\0';
  in_addr addr;
  return inet_pton(AF_INET, text, &addr) == 1;
}

}  // namespace

std::shared_ptr<const RouterConfig> ParseRouter(config::ObjectReader& r) {
  r.CheckKeys({"max_rate", "capacity", "client_max_rate", "client_capacity", "every", "strategy",
               "key", "num_shards", "cleanup_period", "cleanup_threads"});
  auto c = std::make_shared<RouterConfig>();
  if (auto every = r.Duration("every")) {
    if (*every < absl::Seconds(1)) {
      r.Warn("every", "warning: under 1s; KrakenD uses 1s, and so does Sluice");
    } else {
      c->every = absl::ToInt64Nanoseconds(*every);
    }
  }
  if (auto rate = ReadRate(r, "max_rate")) c->max_rate = *rate;
  if (auto rate = ReadRate(r, "client_max_rate")) c->client_max_rate = *rate;
  if (auto n = r.Int("capacity", 0, kMaxCapacity)) c->capacity = *n;
  if (auto n = r.Int("client_capacity", 0, kMaxCapacity)) c->client_capacity = *n;
  if (auto strategy = r.String("strategy")) {
    if (*strategy == "ip") {
      c->strategy = Strategy::kIp;
    } else if (*strategy == "header") {
      c->strategy = Strategy::kHeader;
    } else if (*strategy == "param") {
      c->strategy = Strategy::kParam;
    } else {
      r.Error("strategy",
              absl::StrCat("unknown strategy \"", *strategy, "\" (use ip, header or param)"));
    }
  }
  if (auto key = r.String("key")) c->key = *key;
  if (c->client_max_rate > 0 && c->strategy != Strategy::kIp && c->key.empty()) {
    r.Error("key",
            "is required with strategy header or param: it names the header or the "
            "{param} that identifies a client");
  }
  // Tuning of KrakenD's maps; Sluice's are sized by ClientBuckets.
  r.Int("num_shards", 0, 1 << 20);
  r.Duration("cleanup_period");
  r.Int("cleanup_threads", 0, 1024);
  if (c->max_rate <= 0 && c->client_max_rate <= 0) {
    r.Error("",
            "sets neither max_rate nor client_max_rate above 0, so it would limit nothing "
            "(v1 spellings maxRate and clientMaxRate are not read)");
  }
  return c;
}

// ---------------------------------------------------------------------------------------------

bool ClientBuckets::Take(std::string_view client, Nanos now) {
  // Debian's Abseil has its own string_view.
  const absl::string_view key(client.data(), client.size());
  Shard& shard = shards_[absl::Hash<absl::string_view>{}(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.tat.find(key);
  if (it == shard.tat.end()) {
    if (shard.tat.size() >= kMaxClients / kShards) MakeRoom(shard, now);
    it = shard.tat.emplace(std::string(client), 0).first;
  }
  return ratelimit::Take(rate_, now, &it->second);
}

void ClientBuckets::MakeRoom(Shard& shard, Nanos now) {
  // Buckets at rest are full again: dropping them changes no client's budget.
  absl::erase_if(shard.tat, [now](const auto& entry) { return entry.second <= now; });
  if (shard.tat.size() < kMaxClients / kShards) return;
  // Every bucket is in use (a flood of distinct keys): the one closest to rest goes, and that
  // client starts again with a full bucket. The endpoint-wide limit still holds.
  auto oldest = shard.tat.begin();
  for (auto it = shard.tat.begin(); it != shard.tat.end(); ++it) {
    if (it->second < oldest->second) oldest = it;
  }
  shard.tat.erase(oldest);
}

size_t ClientBuckets::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    n += shard.tat.size();
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

namespace {

clusterlimit::Limit ClusterLimit(std::string key, const Rate& rate) {
  return clusterlimit::Limit(std::move(key), rate.interval / 1000, rate.tolerance / 1000);
}

}  // namespace

RouterStage::RouterStage(const RouterConfig& config,
                         std::shared_ptr<clusterlimit::RedisLimiter> cluster,
                         std::string endpoint_key)
    : config_(config), cluster_(std::move(cluster)), endpoint_key_(std::move(endpoint_key)) {
  if (cluster_) {
    if (config.max_rate > 0) {
      endpoint_limit_ = ClusterLimit(
          endpoint_key_, MakeRate(config.max_rate, config.every,
                                  CapacityFor(config.max_rate, config.every, config.capacity)));
    }
    if (config.client_max_rate > 0) {
      client_limit_ = ClusterLimit(
          endpoint_key_ + "|",
          MakeRate(config.client_max_rate, config.every,
                   CapacityFor(config.client_max_rate, config.every, config.client_capacity)));
    }
    return;
  }
  if (config.max_rate > 0) {
    endpoint_ = std::make_unique<Bucket>(
        MakeRate(config.max_rate, config.every,
                 CapacityFor(config.max_rate, config.every, config.capacity)));
  }
  if (config.client_max_rate > 0) {
    clients_ = std::make_unique<ClientBuckets>(
        MakeRate(config.client_max_rate, config.every,
                 CapacityFor(config.client_max_rate, config.every, config.client_capacity)));
  }
}

std::string_view RouterStage::ClientOf(const pipeline::RequestContext& ctx) const {
  const http::Request& req = ctx.request();
  switch (config_.strategy) {
    case Strategy::kHeader: {
      auto it = req.find(config_.key);
      return it == req.end() ? std::string_view() : Sv(it->value());
    }
    case Strategy::kParam:
      for (const auto& [name, value] : ctx.params) {
        if (name == config_.key) return value;
      }
      return {};
    case Strategy::kIp:
      if (!config_.key.empty()) {
        // A header set by a trusted proxy (X-Forwarded-For...): its first address, without a
        // port. Anything else falls back to the connection's address, as KrakenD.
        auto it = req.find(config_.key);
        if (it != req.end()) {
          std::string_view first = Sv(it->value());
          first = TrimOws(first.substr(0, first.find(',')));
          first = first.substr(0, first.find(':'));
          if (IsIpv4(first)) return first;
        }
      }
      return ctx.exchange->client_ip();
  }
  return {};
}

pipeline::StageResult RouterStage::DecideInCluster(pipeline::RequestContext& ctx) const {
  std::array<clusterlimit::Check, 2> checks;
  size_t n = 0;
  if (client_limit_) {
    const std::string_view client = ClientOf(ctx);
    if (client.empty()) {
      ctx.response = Refusal(bhttp::status::too_many_requests);
      return pipeline::StageResult::kRespond;
    }
    checks[n++] = {&*client_limit_, client};
  }
  if (endpoint_limit_) checks[n++] = {&*endpoint_limit_, {}};
  if (n == 0) return pipeline::StageResult::kContinue;
  const bool client_first = client_limit_.has_value();
  cluster_->Decide(ctx.call, absl::MakeConstSpan(checks.data(), n),
                   [this, self = ctx.shared_from_this(), client_first](clusterlimit::Verdict v) {
                     bhttp::status refusal = bhttp::status::service_unavailable;
                     switch (v) {
                       case clusterlimit::Verdict::kAdmit:
                         return self->Resume(pipeline::StageResult::kContinue);
                       case clusterlimit::Verdict::kFirstRefused:
                         if (client_first) refusal = bhttp::status::too_many_requests;
                         break;
                       case clusterlimit::Verdict::kSecondRefused:
                         break;
                       case clusterlimit::Verdict::kUnavailable:
                         cluster_->CountFallback();
                         if (cluster_->allow_on_error()) {
                           return self->Resume(pipeline::StageResult::kContinue);
                         }
                         break;
                     }
                     self->response = Refusal(refusal);
                     self->Resume(pipeline::StageResult::kRespond);
                   });
  return pipeline::StageResult::kPending;
}

pipeline::StageResult RouterStage::OnRequest(pipeline::RequestContext& ctx) const {
  if (cluster_) return DecideInCluster(ctx);
  const Nanos now = SteadyNanos();
  if (clients_) {
    const std::string_view client = ClientOf(ctx);
    if (client.empty() || !clients_->Take(client, now)) {
      ctx.response = Refusal(bhttp::status::too_many_requests);
      return pipeline::StageResult::kRespond;
    }
  }
  if (endpoint_ && !endpoint_->Take(now)) {
    ctx.response = Refusal(bhttp::status::service_unavailable);
    return pipeline::StageResult::kRespond;
  }
  return pipeline::StageResult::kContinue;
}

}  // namespace sluice::components::ratelimit
