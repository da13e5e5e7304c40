#pragma once

// REST backends: the Backend interface over HTTP/1.1, through one keep-alive Client per worker
// (gateway/backend/rest/client.h), so a call takes no lock.

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/backend/backend.h"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"

namespace sluice::backend::rest {

class RestBackend final : public Backend {
 public:
  // `clients` holds one client per worker (none when only checking a config) and outlives the
  // backend; every host of `hosts` is registered with each of them. Fails when they have no
  // slot left for a new host.
  static absl::StatusOr<std::unique_ptr<RestBackend>> Create(
      const std::vector<std::unique_ptr<Client>>& clients,
      const std::vector<config::HostAddress>& hosts);

  // Sends the request to host request.host (mod the host count) with the worker's client.
  void Call(BackendRequest&& request, const CallContext& ctx, Deadline deadline,
            Done done) const override;

 private:
  RestBackend(const std::vector<std::unique_ptr<Client>>& clients, std::vector<int> slots)
      : clients_(clients), slots_(std::move(slots)) {}

  const std::vector<std::unique_ptr<Client>>& clients_;
  std::vector<int> slots_;  // host i's slot, the same in every worker's client
};

}  // namespace sluice::backend::rest
