#pragma once

// The running gateway as the admin plane sees it: runtime::InstanceView over the config, the
// metrics registry, the public server and the drain switch.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
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

  // A reload made `config` live (Status, GetConfig, build_info follow it).
  void SetConfig(std::shared_ptr<const config::ServiceConfig> config);
  // Keeps a reload's outcome for Status and Prometheus.
  void Record(const ReloadRecord& record);
  // How Reload runs (main.cc: on the main loop, waiting for it). Unset: reloads fail.
  void set_reloader(std::function<ReloadRecord(std::string)> reload);

  // InstanceView
  std::shared_ptr<const config::ServiceConfig> config() const override;
  ReloadRecord Reload(std::string trigger) override;
  ReloadHistory reloads() const override;
  RuntimeInfo info() const override;
  metrics::Snapshot metrics() const override { return registry_.Read(); }
  ProcessStats process() const override;
  ServingState serving_state() const override;
  void Drain() override;
  void Resume() override;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const config::ServiceConfig> config_ ABSL_GUARDED_BY(mu_);
  ReloadHistory history_ ABSL_GUARDED_BY(mu_);
  std::function<ReloadRecord(std::string)> reloader_ ABSL_GUARDED_BY(mu_);
  metrics::Registry& registry_;
  RuntimeInfo info_;
  const http::Server* server_ = nullptr;
  std::atomic<bool> draining_{false};
};

// Resident set size of this process, from /proc/self/statm (0 if unavailable).
uint64_t ResidentBytes();

}  // namespace sluice::runtime
