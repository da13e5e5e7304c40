#pragma once

// KrakenD's `qos/ratelimit/router` (endpoint level): an endpoint-wide limit (`max_rate` per
// `every`, answered 503 when spent) and a per-client one (`client_max_rate`, by `strategy` ip,
// header or param, answered 429), client first, as KrakenD. Both are token buckets
// (ratelimit/bucket.h) per process: the endpoint's is one atomic shared by the workers; the
// clients' live in sharded maps, bounded so that a flood of distinct keys cannot take the
// gateway's memory.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "gateway/components/qos/ratelimit/bucket.h"
#include "gateway/components/sluice/clusterlimit/redis.h"
#include "gateway/config/reader.h"
#include "gateway/pipeline/stage.h"

namespace sluice::components::ratelimit {

inline constexpr std::string_view kRouterNamespace = "qos/ratelimit/router";

enum class Strategy { kIp, kHeader, kParam };

struct RouterConfig : config::ComponentConfig {
  double max_rate = 0;         // 0: no endpoint-wide limit
  int64_t capacity = 0;        // 0: the per-second rate, at least 1
  double client_max_rate = 0;  // 0: no per-client limit
  int64_t client_capacity = 0;
  Nanos every = 1'000'000'000;
  Strategy strategy = Strategy::kIp;
  std::string key;  // header or {param} name; for kIp an optional header holding the client IP
};

std::shared_ptr<const RouterConfig> ParseRouter(config::ObjectReader& reader);

// Client buckets of one endpoint, by identity. Each shard holds at most kMaxClients / kShards
// buckets: at the bound, buckets at rest are dropped first (they equal fresh ones), then the
// one closest to rest.
class ClientBuckets {
 public:
  static constexpr size_t kShards = 64;
  static constexpr size_t kMaxClients = 1 << 16;

  explicit ClientBuckets(Rate rate) : rate_(rate) {}
  bool Take(std::string_view client, Nanos now);
  size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, Nanos> tat;
  };
  static void MakeRoom(Shard& shard, Nanos now);

  const Rate rate_;
  std::array<Shard, kShards> shards_;
};

class RouterStage final : public pipeline::Stage {
 public:
  // With `cluster`, the limits are decided by Redis for every instance that shares it (keys
  // `endpoint_key` and `endpoint_key|client`); without, by this process's buckets.
  explicit RouterStage(const RouterConfig& config,
                       std::shared_ptr<clusterlimit::RedisLimiter> cluster = nullptr,
                       std::string endpoint_key = {});
  std::string_view name() const override { return kRouterNamespace; }
  pipeline::StageResult OnRequest(pipeline::RequestContext& ctx) const override;

  // The client's identity under the configured strategy; empty when it has none.
  std::string_view ClientOf(const pipeline::RequestContext& ctx) const;

 private:
  pipeline::StageResult DecideInCluster(pipeline::RequestContext& ctx) const;

  const RouterConfig& config_;
  std::shared_ptr<clusterlimit::RedisLimiter> cluster_;
  std::string endpoint_key_;
  std::optional<clusterlimit::Limit> endpoint_limit_;  // with `cluster`: in microseconds
  std::optional<clusterlimit::Limit> client_limit_;
  // Buckets change while the stage is const (a stack is immutable; its limits' state is not).
  mutable std::unique_ptr<Bucket> endpoint_;
  mutable std::unique_ptr<ClientBuckets> clients_;
};

}  // namespace sluice::components::ratelimit
