#pragma once

// Process-wide state of gRPC backends: the schema catalog, and one H2Client per worker
// (gateway/backend/grpc/h2_client.h) with every backend host registered in each, plaintext or
// over TLS. gRPC C++ itself is used only to fetch descriptors by server reflection at start.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ssl/context.hpp"
#include "gateway/backend/grpc/catalog.h"
#include "gateway/backend/grpc/h2_client.h"
#include "gateway/components/backend/grpc/config.h"
#include "gateway/components/grpc/config.h"
#include "gateway/config/config.h"
#include "grpcpp/security/credentials.h"

namespace sluice::backend::grpc {

class Channels {
 public:
  // Loads the catalog's descriptor sets (`catalog` may be null: none); relative paths are read
  // from `config_dir`. Errors name the catalog entry. One H2Client per worker loop of `workers`
  // (none when only checking a config).
  static absl::StatusOr<std::unique_ptr<Channels>> Create(
      const components::grpc::Config* catalog, const std::string& config_dir,
      const std::vector<boost::asio::io_context*>& workers = {});
  // Each worker's H2Client is closed on its own loop (calls still in flight end CANCELLED); it
  // keeps the catalog, which its calls' replies are read with, until then.
  ~Channels();

  Catalog& catalog() { return *catalog_; }

  H2Client& client(int worker) const { return *clients_[worker]; }
  // Whether calls will be made (there are workers), as opposed to checking a config.
  bool serving() const { return !clients_.empty(); }
  // Registers `host` with every worker's client, over TLS with `tls` (null: plaintext); the slot
  // is the same in each. Fails when `tls` cannot be loaded (a PEM that does not parse), with
  // OpenSSL's reason. Backends with the same TLS settings share one TLS context.
  absl::StatusOr<int> RegisterHost(const config::HostAddress& host,
                                   const components::backend_grpc::Config::Tls* tls);

 private:
  Channels() = default;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
  std::vector<boost::asio::io_context*> workers_;
  std::vector<std::shared_ptr<H2Client>> clients_;
  // TLS contexts by their settings (roots, certificate chain, key).
  std::vector<std::pair<std::string, std::shared_ptr<boost::asio::ssl::context>>> tls_;
};

// "host:port" (IPv6 in brackets) as gRPC names a target (server reflection).
std::string Target(const config::HostAddress& host);

// gRPC's TLS credentials from a backend's client_tls, or plaintext ones for null (server
// reflection).
std::shared_ptr<::grpc::ChannelCredentials> Credentials(
    const components::backend_grpc::Config::Tls* tls);

}  // namespace sluice::backend::grpc
