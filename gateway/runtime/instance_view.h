#pragma once

// What the admin plane may see of (and do to) this running instance (one sluice process).
// admin/ depends on this interface only, never on its implementation (gateway/ never includes
// admin/).

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "gateway/metrics/registry.h"

namespace sluice::runtime {

enum class ServingState { kServing, kDraining };

struct ProcessStats {
  int64_t open_connections = 0;
  uint64_t total_connections = 0;
  uint64_t rss_bytes = 0;
};

struct RuntimeInfo {
  absl::Time started_at;
  std::string public_address;  // "0.0.0.0:8080" as actually bound
  int workers = 0;
  int pid = 0;
  std::string hostname;
};

class InstanceView {
 public:
  virtual ~InstanceView() = default;

  // The effective configuration (env overrides applied) and its provenance.
  virtual std::shared_ptr<const config::ServiceConfig> config() const = 0;
  virtual RuntimeInfo info() const = 0;
  virtual metrics::Snapshot metrics() const = 0;
  virtual ProcessStats process() const = 0;

  virtual ServingState serving_state() const = 0;
  // Draining: /__health answers 503 {"status":"draining"} so load balancers stop sending new
  // traffic, while in-flight and new requests are still served. Resume undoes it.
  virtual void Drain() = 0;
  virtual void Resume() = 0;
};

}  // namespace sluice::runtime
