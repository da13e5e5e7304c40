#pragma once

// What the admin plane may see of (and do to) this running instance (one sluice process).
// admin/ depends on this interface only, never on its implementation (gateway/ never includes
// admin/).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "gateway/metrics/registry.h"

namespace sluice::runtime {

enum class ServingState { kServing, kDraining };

struct ProcessStats {
  int64_t open_connections = 0;
  uint64_t total_connections = 0;
  uint64_t buffered_request_bytes = 0;  // request bodies held, of max_buffered_request_bytes
  uint64_t rss_bytes = 0;
  std::vector<int64_t> worker_connections;  // open_connections by worker index
};

struct RuntimeInfo {
  absl::Time started_at;
  std::string public_address;  // "0.0.0.0:8080" as actually bound
  int workers = 0;
  int pid = 0;
  std::string hostname;
};

// One configuration reload (SIGHUP, admin.Admin/Reload, the file watch).
struct ReloadRecord {
  absl::Time at;
  std::string trigger;  // "SIGHUP", "admin", "watch"
  std::string result;   // "ok" (new config live), "unchanged" (same sha256), "failed"
  std::string sha256;   // of the file read; empty when it could not be read
  std::string error;    // why it failed, naming the file and key; empty otherwise
  absl::Duration took;  // reading, checking and building, until live on every worker
};

struct ReloadHistory {
  uint64_t ok = 0;
  uint64_t unchanged = 0;
  uint64_t failed = 0;
  absl::Time last_success;           // the live config's load; InfinitePast before any reload
  std::vector<ReloadRecord> recent;  // newest first, at most kRecentReloads
  static constexpr size_t kRecentReloads = 10;
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

  // Reads the config file again and, if it passes what `sluice check` checks and changes nothing
  // that needs new sockets, makes it live; otherwise the current one keeps serving. Blocks until
  // done (any thread but a gateway worker's).
  virtual ReloadRecord Reload(std::string trigger) {
    ReloadRecord r;
    r.at = absl::Now();
    r.trigger = std::move(trigger);
    r.result = "failed";
    r.error = "this instance cannot reload its configuration";
    return r;
  }
  virtual ReloadHistory reloads() const { return {}; }
};

}  // namespace sluice::runtime
