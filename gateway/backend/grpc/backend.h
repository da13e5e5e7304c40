#pragma once

// gRPC backends (KrakenD EE's `backend/grpc`): a public JSON endpoint served by a unary gRPC
// method. The request message is built from the JSON body (use_request_body), URL {params} and
// query strings (by field name or dotted path, after input_mapping renames); the reply becomes
// a JSON object that goes through the same status policy, shaping, merging and rendering as a
// REST backend's answer, so one endpoint may aggregate REST and gRPC backends.

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/io_context.hpp"
#include "gateway/backend/grpc/catalog.h"
#include "gateway/backend/grpc/transcode.h"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/router/router.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"

namespace sluice::backend::grpc {

// The HTTP status a gRPC status code maps to (google/rpc/code.proto; 500 for unknown codes).
unsigned HttpStatusFromGrpc(int code);

// Process-wide gRPC state: the catalog and one channel per backend host (gRPC channels are
// thread-safe and multiplex calls, so every worker shares them).
class Runtime {
 public:
  // Loads extra_config.grpc.catalog (paths relative to the config file's directory).
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(const config::ServiceConfig& service);
  // Cancels the calls still in flight and waits for their completions, which use the catalog
  // and post to worker event loops: nothing of a call may outlive this.
  ~Runtime();

  Catalog& catalog() { return catalog_; }
  std::shared_ptr<::grpc::Channel> Channel(const config::HostAddress& host);

  // A call starts and ends (its completion has posted its result). Begin is false once the
  // runtime is shutting down: the call must not start.
  bool Begin(::grpc::ClientContext* call);
  void End(::grpc::ClientContext* call);

 private:
  Runtime() = default;
  Catalog catalog_;
  std::vector<std::pair<std::string, std::shared_ptr<::grpc::Channel>>> channels_;
  // Calls in flight, to cancel at shutdown. One short lock at each call's start and end: gRPC
  // takes dozens per call, and shutdown has no other way to reach a call.
  absl::Mutex mu_;
  std::set<::grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
};

struct BackendOptions {
  bool use_request_body = false;
  bool disable_query_params = false;
  bool reflection = false;  // descriptor_source "reflection": ask the server when no catalog
                            // file describes the service
  std::vector<std::pair<std::string, std::string>> input_mapping;   // param/query -> field path
  std::vector<std::pair<std::string, std::string>> header_mapping;  // header -> metadata key
  OutputOptions output;

  // Reads extra_config."backend/grpc"; errors name the key.
  static absl::StatusOr<BackendOptions> FromConfig(const config::Backend& backend);
};

class Backend {
 public:
  // Resolves url_pattern "/package.Service/Method" in the catalog (or by reflection) and checks
  // every input_mapping target. Errors name the backend's JSON path.
  static absl::StatusOr<std::unique_ptr<Backend>> Create(const config::Endpoint& endpoint,
                                                         const config::Backend& backend,
                                                         Runtime& runtime);

  // Calls host number `host` (mod the host count). `forwarded` is the request a REST backend
  // would get (allow-listed query strings and headers: they become fields and metadata);
  // `body` is the client's body. `done` runs exactly once, on `ioc`.
  void Call(const http::Request& forwarded, const router::Params& params, std::string_view body,
            rest::Deadline deadline, uint32_t host, boost::asio::io_context& ioc,
            rest::Callback done) const;

  const google::protobuf::MethodDescriptor* method() const { return method_; }

  // Builds the request message (exposed for tests). InvalidArgument names the field at fault.
  absl::Status BuildRequest(const http::Request& forwarded, const router::Params& params,
                            std::string_view body, google::protobuf::Message* message) const;

 private:
  Backend() = default;
  std::string MappedName(std::string_view name) const;

  Runtime* runtime_ = nullptr;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  const google::protobuf::Message* request_prototype_ = nullptr;
  const google::protobuf::Message* reply_prototype_ = nullptr;
  std::string path_;  // "/package.Service/Method"
  BackendOptions options_;
  std::vector<std::unique_ptr<::grpc::GenericStub>> stubs_;  // one per host
};

}  // namespace sluice::backend::grpc
