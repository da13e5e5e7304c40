#pragma once

// gRPC backends (KrakenD EE's `backend/grpc`): a public JSON endpoint served by a unary gRPC
// method. The request message is built from the JSON body (use_request_body), the endpoint's
// {params} and the allow-listed query strings (by field name or dotted path, after
// input_mapping renames); the reply becomes a JSON object (BackendResponse::data) that goes
// through the same status policy, shaping, merging and rendering as a REST backend's answer.
// Failures carry the gRPC status code; pipeline/errors.h maps it to HTTP.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/backend/backend.h"
#include "gateway/backend/grpc/channels.h"
#include "gateway/backend/grpc/transcode.h"
#include "gateway/components/backend/grpc/config.h"
#include "gateway/config/config.h"

namespace sluice::backend::grpc {

class GrpcBackend final : public Backend {
 public:
  // Resolves url_pattern "/package.Service/Method" in the catalog (or by reflection) and checks
  // every input_mapping target. Errors name the backend's JSON path.
  static absl::StatusOr<std::unique_ptr<GrpcBackend>> Create(
      const config::Backend& backend, const components::backend_grpc::Config& options,
      Channels& channels);

  // Calls host request.host (mod the host count).
  void Call(BackendRequest&& request, const CallContext& ctx, Deadline deadline,
            Done done) const override;

  const google::protobuf::MethodDescriptor* method() const { return method_; }

  // Builds the request message (exposed for tests). InvalidArgument names the field at fault.
  absl::Status BuildRequest(const BackendRequest& request,
                            google::protobuf::Message* message) const;

 private:
  GrpcBackend() = default;
  std::string MappedName(std::string_view name) const;
  // The forwarded headers as gRPC metadata: header_mapping applied, reserved ones left out.
  Metadata MetadataOf(const Fields& headers) const;

  Channels* channels_ = nullptr;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  const google::protobuf::Message* request_prototype_ = nullptr;
  const google::protobuf::Message* reply_prototype_ = nullptr;
  std::string path_;  // "/package.Service/Method"
  components::backend_grpc::Config options_;
  OutputOptions output_;
  std::unique_ptr<const JsonLayout> layout_;  // null: replies are not rendered directly
  std::vector<int> slots_;                    // each host's slot in the workers' H2Clients
};

}  // namespace sluice::backend::grpc
