#pragma once

// Process-wide state of gRPC backends: the schema catalog, one H2Client per worker for plaintext
// backends (gateway/backend/grpc/h2_client.h), and for TLS backends one gRPC C++ channel per host
// (thread-safe, shared by every worker) with the calls in flight on them, which shutdown must
// cancel before anything they touch goes away.

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/io_context.hpp"
#include "gateway/backend/grpc/catalog.h"
#include "gateway/backend/grpc/h2_client.h"
#include "gateway/components/backend/grpc/config.h"
#include "gateway/components/grpc/config.h"
#include "gateway/config/config.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace sluice::backend::grpc {

class Channels {
 public:
  // Loads the catalog's descriptor sets (`catalog` may be null: none); relative paths are read
  // from `config_dir`. Errors name the catalog entry. One H2Client per worker loop of `workers`
  // (none when only checking a config).
  static absl::StatusOr<std::unique_ptr<Channels>> Create(
      const components::grpc::Config* catalog, const std::string& config_dir,
      const std::vector<boost::asio::io_context*>& workers = {});
  // Cancels the calls still in flight on gRPC C++ channels and waits for their completions,
  // which use the catalog and post to worker event loops: nothing of a call may outlive this.
  // Each worker's H2Client is closed on its own loop (it keeps the catalog until then).
  ~Channels();

  Catalog& catalog() { return *catalog_; }

  // The H2Clients, one per worker (empty: none, calls go through gRPC C++).
  bool has_clients() const { return !clients_.empty(); }
  H2Client& client(int worker) const { return *clients_[worker]; }
  // Registers a plaintext host with every worker's client; the slot is the same in each.
  int RegisterHost(const config::HostAddress& host);
  // The channel to `host`, over TLS with `tls` (null: plaintext), created on first use (creating
  // does not connect).
  std::shared_ptr<::grpc::Channel> Channel(const config::HostAddress& host,
                                           const components::backend_grpc::Config::Tls* tls);

  // A call starts and ends (its completion has posted its result). Begin is false once shutdown
  // has begun: the call must not start.
  bool Begin(::grpc::ClientContext* call);
  void End(::grpc::ClientContext* call);

 private:
  Channels() = default;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
  std::vector<boost::asio::io_context*> workers_;
  std::vector<std::shared_ptr<H2Client>> clients_;
  std::vector<std::pair<std::string, std::shared_ptr<::grpc::Channel>>> channels_;
  // Calls in flight, to cancel at shutdown. One short lock at each call's start and end: gRPC
  // takes dozens per call, and shutdown has no other way to reach a call.
  absl::Mutex mu_;
  std::set<::grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
};

// "host:port" (IPv6 in brackets) as gRPC names a target.
std::string Target(const config::HostAddress& host);

// gRPC's TLS credentials from a backend's client_tls, or plaintext ones for null.
std::shared_ptr<::grpc::ChannelCredentials> Credentials(
    const components::backend_grpc::Config::Tls* tls);

}  // namespace sluice::backend::grpc
