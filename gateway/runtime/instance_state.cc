#include "gateway/runtime/instance_state.h"

#include <unistd.h>

#include <fstream>

#include "absl/time/clock.h"
#include "gateway/common/logging.h"

namespace sluice::runtime {

InstanceState::InstanceState(std::shared_ptr<const config::ServiceConfig> config,
                             metrics::Registry& registry, int workers)
    : config_(std::move(config)), registry_(registry) {
  info_.started_at = absl::Now();
  info_.workers = workers;
  info_.pid = static_cast<int>(getpid());
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) info_.hostname = host;
}

void InstanceState::set_server(const http::Server* server, std::string public_address) {
  server_ = server;
  info_.public_address = std::move(public_address);
}

std::shared_ptr<const config::ServiceConfig> InstanceState::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

void InstanceState::SetConfig(std::shared_ptr<const config::ServiceConfig> config) {
  absl::MutexLock lock(&mu_);
  config_ = std::move(config);
}

void InstanceState::Record(const ReloadRecord& record) {
  absl::MutexLock lock(&mu_);
  if (record.result == "ok") {
    ++history_.ok;
    history_.last_success = record.at;
  } else if (record.result == "unchanged") {
    ++history_.unchanged;
  } else {
    ++history_.failed;
  }
  auto& recent = history_.recent;
  recent.insert(recent.begin(), record);
  if (recent.size() > ReloadHistory::kRecentReloads) recent.pop_back();
}

void InstanceState::set_reloader(std::function<ReloadRecord(std::string)> reload) {
  absl::MutexLock lock(&mu_);
  reloader_ = std::move(reload);
}

ReloadRecord InstanceState::Reload(std::string trigger) {
  std::function<ReloadRecord(std::string)> reload;
  {
    absl::MutexLock lock(&mu_);
    reload = reloader_;
  }
  return reload ? reload(std::move(trigger)) : InstanceView::Reload(std::move(trigger));
}

ReloadHistory InstanceState::reloads() const {
  absl::MutexLock lock(&mu_);
  return history_;
}

RuntimeInfo InstanceState::info() const { return info_; }

ProcessStats InstanceState::process() const {
  ProcessStats p;
  if (server_ != nullptr) {
    p.open_connections = server_->open_connections();
    p.worker_connections = server_->worker_connections();
    p.total_connections = server_->total_connections();
    p.buffered_request_bytes = server_->buffered_request_bytes();
  }
  p.rss_bytes = ResidentBytes();
  return p;
}

ServingState InstanceState::serving_state() const {
  return draining_.load() ? ServingState::kDraining : ServingState::kServing;
}

void InstanceState::Drain() {
  if (!draining_.exchange(true)) log::Info("draining: /__health now answers 503");
}

void InstanceState::Resume() {
  if (draining_.exchange(false)) log::Info("resumed: /__health answers 200 again");
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace sluice::runtime
