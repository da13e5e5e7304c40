#pragma once

// admin.Admin over runtime::InstanceView (gRPC's synchronous API: each call runs on a thread of
// the admin server's own pool, never on a gateway worker).

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "admin/token.h"
#include "gateway/runtime/instance_view.h"
#include "proto/admin/admin.grpc.pb.h"

namespace sluice::admin {

class AdminService final : public ::admin::Admin::Service {
 public:
  // `on_state_change` runs after Drain or Resume changed the view's state (to update the
  // grpc.health.v1 statuses at once).
  AdminService(runtime::InstanceView& view, TokenPolicy tokens,
               std::function<void()> on_state_change);

  // The listeners as bound; Status reports them. Set once both are bound.
  void SetAddresses(std::string admin_address, std::string metrics_address);

  ::grpc::Status Status(::grpc::ServerContext* context, const ::admin::StatusRequest* request,
                        ::admin::StatusResponse* response) override;
  ::grpc::Status GetMetrics(::grpc::ServerContext* context,
                            const ::admin::GetMetricsRequest* request,
                            ::admin::GetMetricsResponse* response) override;
  ::grpc::Status Health(::grpc::ServerContext* context, const ::admin::HealthRequest* request,
                        ::admin::HealthResponse* response) override;
  ::grpc::Status GetConfig(::grpc::ServerContext* context, const ::admin::GetConfigRequest* request,
                           ::admin::GetConfigResponse* response) override;
  ::grpc::Status Drain(::grpc::ServerContext* context, const ::admin::DrainRequest* request,
                       ::admin::DrainResponse* response) override;
  ::grpc::Status Resume(::grpc::ServerContext* context, const ::admin::ResumeRequest* request,
                        ::admin::ResumeResponse* response) override;
  ::grpc::Status Reload(::grpc::ServerContext* context, const ::admin::ReloadRequest* request,
                        ::admin::ReloadResponse* response) override;

 private:
  ::grpc::Status Authorize(::grpc::ServerContext* context, CallClass call,
                           std::string_view method) const;

  runtime::InstanceView& view_;
  const TokenPolicy tokens_;
  const std::function<void()> on_state_change_;
  // Written once at start-up, read by every Status call (on gRPC's threads).
  mutable absl::Mutex mu_;
  std::string admin_address_ ABSL_GUARDED_BY(mu_);
  std::string metrics_address_ ABSL_GUARDED_BY(mu_);
};

// The effective config, pretty-printed, with "[redacted]" in place of every value that may be a
// credential: values of secret-looking keys ("password", "secret", "token", "api_key",
// "authorization", "cookie", "credential"...), every header value (header modifiers' `value`,
// maps under keys naming headers). Component objects under such names are walked, not hidden.
std::string RedactedConfigJson(const nlohmann::json& effective);

}  // namespace sluice::admin
