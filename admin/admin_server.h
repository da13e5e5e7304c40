#pragma once

// The admin plane: a gRPC server (admin.Admin, grpc.health.v1.Health, server reflection) and a
// Prometheus text-exposition listener, on their own threads and ports, next to the data plane.
// It sees the gateway only through runtime::InstanceView.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/runtime/instance_view.h"

namespace sluice::admin {

class AdminServer {
 public:
  // Starts both listeners as configured by `extra_config."sluice/admin"` and
  // `extra_config."telemetry/metrics"` (defaults 127.0.0.1:9091 and 127.0.0.1:9090; port 0 picks
  // an ephemeral port). Fails naming the address on bind errors.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(runtime::InstanceView& view);

  virtual ~AdminServer() = default;

  // Addresses actually bound, e.g. "127.0.0.1:9091".
  virtual std::string grpc_address() const = 0;
  virtual std::string metrics_address() const = 0;

  // Marks every health status NOT_SERVING and stops both listeners (bounded wait).
  virtual void Shutdown() = 0;
};

}  // namespace sluice::admin
