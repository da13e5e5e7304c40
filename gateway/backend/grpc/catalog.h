#pragma once

// The gRPC schema catalog: every message and service the gateway can transcode, in one
// DescriptorPool. Filled at start from descriptor-set files (`protoc --include_imports
// --descriptor_set_out`, KrakenD EE's extra_config.grpc.catalog) and, for services no file
// describes, from a backend's server reflection. Immutable once the gateway serves.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/security/credentials.h"

namespace sluice::backend::grpc {

class Catalog {
 public:
  Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Reads a descriptor-set file, or every regular file of a directory (sorted by name, not
  // recursive). Errors name the file: missing, unreadable, not a FileDescriptorSet, the same
  // .proto with different content in two sets. Nothing is built until Build().
  absl::Status AddPath(const std::string& path);

  // Builds every file read so far, imports first (so the order of catalog entries does not
  // matter). Errors name the set a file came from: a symbol defined twice, an import nobody
  // provides.
  absl::Status Build();

  // Asks the server at `target` ("host:port") for the file that defines `symbol` (a service's
  // full name) and its imports, over grpc.reflection.v1alpha, waiting at most `timeout`.
  absl::Status AddFromReflection(const std::string& target,
                                 std::shared_ptr<::grpc::ChannelCredentials> credentials,
                                 const std::string& symbol, absl::Duration timeout);

  const google::protobuf::DescriptorPool& pool() const { return pool_; }
  // Thread-safe: GetPrototype may be called from any worker.
  google::protobuf::MessageFactory& factory() const { return factory_; }

 private:
  // Adds FileDescriptorProtos from `source` (a file path or "reflection from HOST") and builds
  // every file not built yet, imports first.
  absl::Status AddFiles(std::vector<google::protobuf::FileDescriptorProto> files,
                        const std::string& source);
  absl::Status BuildFile(const std::string& name, std::vector<std::string>& visiting);

  struct Pending {
    google::protobuf::FileDescriptorProto proto;
    std::string source;
  };
  std::map<std::string, Pending> files_;  // by .proto name: every file seen
  google::protobuf::DescriptorPool pool_;
  mutable google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace sluice::backend::grpc
