#pragma once

// The running gateway as the admin plane sees it: runtime::InstanceView over the config, the
// metrics registry, the public server and the drain switch.

#include <atomic>
#include <memory>
#include <string>

#include "gateway/http/server.h"
#include "gateway/metrics/registry.h"
#include "gateway/runtime/instance_view.h"

namespace sluice::runtime {

class InstanceState : public InstanceView {
 public:
  InstanceState(std::shared_ptr<const config::ServiceConfig> config, metrics::Registry& registry,
                int workers);

  // Set once the public listener is bound (the address is only known then).
  void set_server(const http::Server* server, std::string public_address);

  // The flag the /__health handler reads; true while draining.
  const std::atomic<bool>& draining_flag() const { return draining_; }

  // InstanceView
  std::shared_ptr<const config::ServiceConfig> config() const override { return config_; }
  RuntimeInfo info() const override;
  metrics::Snapshot metrics() const override { return registry_.Read(); }
  ProcessStats process() const override;
  ServingState serving_state() const override;
  void Drain() override;
  void Resume() override;

 private:
  std::shared_ptr<const config::ServiceConfig> config_;
  metrics::Registry& registry_;
  RuntimeInfo info_;
  const http::Server* server_ = nullptr;
  std::atomic<bool> draining_{false};
};

// Resident set size of this process, from /proc/self/statm (0 if unavailable).
uint64_t ResidentBytes();

}  // namespace sluice::runtime
