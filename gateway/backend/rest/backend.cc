#include "gateway/backend/rest/backend.h"

#include <utility>

#include "gateway/common/strings.h"

namespace sluice::backend::rest {

absl::StatusOr<std::unique_ptr<RestBackend>> RestBackend::Create(
    const std::vector<std::unique_ptr<Client>>& clients,
    const std::vector<config::HostAddress>& hosts) {
  std::vector<int> slots;
  for (const config::HostAddress& host : hosts) {
    int slot = static_cast<int>(slots.size());
    // Hosts are registered in the same order everywhere, so one slot number serves every worker.
    for (const auto& client : clients) {
      absl::StatusOr<int> registered = client->RegisterHost(host);
      if (!registered.ok()) return registered.status();
      slot = *registered;
    }
    slots.push_back(slot);
  }
  return std::unique_ptr<RestBackend>(new RestBackend(clients, std::move(slots)));
}

void RestBackend::Call(BackendRequest&& request, const CallContext& ctx, Deadline deadline,
                       Done done) const {
  Request req;
  static_cast<Fields&>(req) = std::move(request.headers);  // one move (a header built first: two)
  req.version(11);
  req.method_string(Bv(request.method));
  req.target(request.target);
  req.body() = std::move(request.body);
  const int slot = slots_[request.host % slots_.size()];
  clients_[ctx.worker]->Send(
      slot, std::move(req), deadline, [done = std::move(done)](CallResult&& result) mutable {
        BackendResponse answer;
        if (!result.ok()) {
          // Source and retryability follow from the kind (transport
          // failures are the backend's).
          answer.error = Error::Of(result.error.kind, std::move(result.error.message));
        } else {
          answer.status = result.response.result_int();
          answer.headers = std::move(result.response.base());
          answer.body = std::move(result.response.body());
          answer.url = std::move(result.url);
        }
        done(std::move(answer));
      });
}

}  // namespace sluice::backend::rest
