#pragma once

// Configuration reloads without a restart. The HTTP front calls one LiveHandler; it forwards each
// request to the live configuration's dispatcher (router, stacks, upstreams). A reload builds a
// new dispatcher off the event loops and swaps it in on every worker; requests in flight finish
// on the dispatcher they started on, which is torn down on the main loop once the last of them
// ends. What needs new sockets (ports, listener TLS, the admin plane) refuses to reload.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/dispatcher.h"
#include "gateway/runtime/instance_state.h"

namespace sluice::runtime {

class LiveHandler final : public http::Handler {
 public:
  // `workers` are the event loops requests run on (index = worker index); `reaper` is where a
  // replaced dispatcher is released (the main loop), so that tearing one down (gRPC clients,
  // JWK fetchers) never runs on a worker.
  LiveHandler(std::vector<boost::asio::io_context*> workers, boost::asio::io_context* reaper);

  // The first dispatcher, before the workers run.
  void Install(std::shared_ptr<pipeline::Dispatcher> first);
  // Makes `next` live on every worker and returns once each has it (or after a bound, if a worker
  // is stuck: it then switches when it runs again). From any thread but a worker's.
  void Swap(std::shared_ptr<pipeline::Dispatcher> next);

  // http::Handler (on the exchange's worker).
  void Handle(http::ExchangePtr exchange) override;

 private:
  // What a worker's requests hold: the dispatcher, released on the reaper when the last holder
  // lets go.
  struct Share {
    std::shared_ptr<pipeline::Dispatcher> dispatcher;
    boost::asio::io_context* reaper = nullptr;
    ~Share();
  };
  // Touched only on its worker's thread: no lock, no atomic on the request path.
  struct alignas(64) Slot {
    pipeline::Dispatcher* dispatcher = nullptr;
    std::shared_ptr<const void> share;
  };
  static void Set(Slot& slot, std::shared_ptr<pipeline::Dispatcher> d, boost::asio::io_context* r);

  const std::vector<boost::asio::io_context*> workers_;
  boost::asio::io_context* const reaper_;
  std::vector<Slot> slots_;
};

// What a reload needs from the running process (main.cc builds it once).
struct ReloadDeps {
  // Reads and checks the file as `sluice check` does (same flags, same environment).
  std::function<config::LoadResult()> load;
  std::vector<boost::asio::io_context*> workers;
  bool debug = false;
  bool port_from_flag = false;  // -p given: the file's port is not the listener's
  metrics::Registry* registry = nullptr;
  const std::atomic<bool>* draining = nullptr;
  std::shared_ptr<const pipeline::RestClients> rest;
  LiveHandler* live = nullptr;
  InstanceState* state = nullptr;
};

// Reloads the config file: `trigger` names what asked ("SIGHUP", "admin", "watch"). The record is
// kept by the instance state (Status, Prometheus) and logged. On the main thread.
ReloadRecord ReloadConfig(const ReloadDeps& deps, std::string trigger);

// What `next` changes that only a restart can apply (each named with its key and values), or
// empty.
std::string NeedsRestart(const config::ServiceConfig& live, const config::ServiceConfig& next,
                         bool port_from_flag);

// Identity of what `path` points at now (through symlinks): device, inode, size, mtime. A
// Kubernetes ConfigMap update (new directory, `..data` symlink swapped) changes it.
std::string FileIdentity(const std::string& path);

}  // namespace sluice::runtime
