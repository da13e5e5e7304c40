#include "gateway/backend/grpc/catalog.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"

namespace sluice::backend::grpc {

namespace gpb = google::protobuf;
using gpb::internal::WireFormatLite;

namespace {

// Collects BuildFile's messages so the error names the element at fault.
class ErrorCollector : public gpb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name, const gpb::Message*,
                ErrorLocation, const std::string& message) override {
    errors.push_back(
        absl::StrCat(filename, ": ", element_name.empty() ? "" : element_name + ": ", message));
  }
  std::vector<std::string> errors;
};

absl::Status ReadSet(const std::string& path, std::vector<gpb::FileDescriptorProto>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  gpb::FileDescriptorSet set;
  if (!set.ParseFromIstream(&in) || set.file_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": not a protobuf descriptor set (make one with protoc --include_imports "
                     "--descriptor_set_out=FILE)"));
  }
  for (auto& f : *set.mutable_file()) out->push_back(std::move(f));
  return absl::OkStatus();
}

// grpc.reflection.v1alpha by hand-encoded messages (three fields), so the gateway needs no
// generated reflection code. ServerReflectionRequest: 3 file_by_filename, 4
// file_containing_symbol. ServerReflectionResponse: 4 file_descriptor_response {1 repeated bytes
// file_descriptor_proto}, 7 error_response {1 int32 error_code, 2 string error_message}.
std::string EncodeReflectionRequest(int field, const std::string& value) {
  std::string out;
  gpb::io::StringOutputStream stream(&out);
  gpb::io::CodedOutputStream coded(&stream);
  WireFormatLite::WriteString(field, value, &coded);
  coded.Trim();
  return out;
}

absl::Status DecodeReflectionResponse(const std::string& bytes,
                                      std::vector<gpb::FileDescriptorProto>* files) {
  gpb::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                               static_cast<int>(bytes.size()));
  std::string error;
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        (field != 4 && field != 7)) {
      if (!WireFormatLite::SkipField(&in, tag)) break;
      continue;
    }
    std::string inner;
    if (!WireFormatLite::ReadBytes(&in, &inner)) break;
    gpb::io::CodedInputStream sub(reinterpret_cast<const uint8_t*>(inner.data()),
                                  static_cast<int>(inner.size()));
    while (uint32_t t = sub.ReadTag()) {
      const int f = WireFormatLite::GetTagFieldNumber(t);
      std::string value;
      if (field == 4 && f == 1) {
        if (!WireFormatLite::ReadBytes(&sub, &value)) break;
        gpb::FileDescriptorProto proto;
        if (!proto.ParseFromString(value)) {
          return absl::DataLossError("reflection answered a malformed file descriptor");
        }
        files->push_back(std::move(proto));
      } else if (field == 7 && f == 2) {
        if (!WireFormatLite::ReadString(&sub, &error)) break;
      } else if (!WireFormatLite::SkipField(&sub, t)) {
        break;
      }
    }
    if (field == 7) return absl::NotFoundError(error.empty() ? "reflection error" : error);
  }
  return absl::OkStatus();
}

}  // namespace

Catalog::Catalog() : factory_(&pool_) {}

absl::Status Catalog::AddPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::vector<std::string> paths;
  if (S_ISDIR(st.st_mode)) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr)
      return absl::NotFoundError(absl::StrCat(path, ": cannot read the directory"));
    while (dirent* e = ::readdir(dir)) {
      std::string child = absl::StrCat(path, path.back() == '/' ? "" : "/", e->d_name);
      struct stat cst {};
      if (e->d_name[0] != '.' && ::stat(child.c_str(), &cst) == 0 && S_ISREG(cst.st_mode)) {
        paths.push_back(std::move(child));
      }
    }
    ::closedir(dir);
    std::sort(paths.begin(), paths.end());
  } else {
    paths.push_back(path);
  }
  // A directory is one unit: its files may import each other in any order.
  std::vector<gpb::FileDescriptorProto> files;
  for (const std::string& p : paths) {
    files.clear();
    if (absl::Status s = ReadSet(p, &files); !s.ok()) return s;
    if (absl::Status s = AddFiles(std::move(files), p); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Catalog::Build() {
  std::vector<std::string> visiting;
  for (const auto& [name, pending] : files_) {
    if (absl::Status s = BuildFile(name, visiting); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Catalog::AddFiles(std::vector<gpb::FileDescriptorProto> files,
                               const std::string& source) {
  for (auto& f : files) {
    // Comments and positions differ between protoc runs of the same file: not a conflict.
    f.clear_source_code_info();
    auto it = files_.find(f.name());
    if (it != files_.end()) {
      if (it->second.proto.SerializeAsString() != f.SerializeAsString()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": ", f.name(), " is also in ", it->second.source, " with different content"));
      }
      continue;  // the same file from two sets (e.g. a shared import): fine
    }
    std::string name = f.name();
    files_.emplace(std::move(name), Pending{std::move(f), source});
  }
  return absl::OkStatus();
}

absl::Status Catalog::BuildFile(const std::string& name, std::vector<std::string>& visiting) {
  if (pool_.FindFileByName(name) != nullptr) return absl::OkStatus();
  auto it = files_.find(name);
  if (it == files_.end()) return absl::NotFoundError(name);
  if (std::find(visiting.begin(), visiting.end(), name) != visiting.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(it->second.source, ": import cycle through ", name));
  }
  visiting.push_back(name);
  for (const std::string& dep : it->second.proto.dependency()) {
    absl::Status s = BuildFile(dep, visiting);
    if (absl::IsNotFound(s) && s.message() == dep) {
      return absl::InvalidArgumentError(absl::StrCat(
          it->second.source, ": ", name, " imports ", dep,
          ", which no catalog file contains (generate the set with --include_imports)"));
    }
    if (!s.ok()) return s;
  }
  visiting.pop_back();
  ErrorCollector errors;
  if (pool_.BuildFileCollectingErrors(it->second.proto, &errors) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(it->second.source, ": ", absl::StrJoin(errors.errors, "; ")));
  }
  return absl::OkStatus();
}

absl::Status Catalog::AddFromReflection(const std::string& target,
                                        std::shared_ptr<::grpc::ChannelCredentials> credentials,
                                        const std::string& symbol, absl::Duration timeout) {
  const std::string source = absl::StrCat("server reflection of ", target);
  auto channel = ::grpc::CreateChannel(target, credentials);
  ::grpc::GenericStub stub(channel);
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  ::grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto wait = [&cq]() {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  auto failed = [&](const std::string& what) {
    ctx.TryCancel();
    ::grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(9));
    void* tag = nullptr;
    bool ok = false;
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return absl::UnavailableError(absl::StrCat(
        source, ": ", what, status.ok() ? "" : absl::StrCat(" (", status.error_message(), ")")));
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!wait()) return failed("cannot reach the server");

  // Ask for the symbol's file, then for any import still missing, one round trip each.
  std::vector<std::pair<int, std::string>> queue = {{4, symbol}};
  std::vector<gpb::FileDescriptorProto> received;
  for (size_t round = 0; !queue.empty() && round < 64; ++round) {
    auto [field, value] = queue.back();
    queue.pop_back();
    ::grpc::Slice slice(EncodeReflectionRequest(field, value));
    ::grpc::ByteBuffer request(&slice, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    if (!wait()) return failed("the reflection stream broke");
    ::grpc::ByteBuffer reply;
    call->Read(&reply, reinterpret_cast<void*>(3));
    if (!wait()) return failed("the server does not offer grpc.reflection.v1alpha");
    ::grpc::Slice joined;
    reply.DumpToSingleSlice(&joined);
    std::string bytes(reinterpret_cast<const char*>(joined.begin()), joined.size());
    if (absl::Status s = DecodeReflectionResponse(bytes, &received); !s.ok()) {
      return failed(absl::StrCat("asked for ", value, ": ", s.message()));
    }
    for (auto& f : received) {
      f.clear_source_code_info();
      if (files_.count(f.name()) == 0) files_.emplace(f.name(), Pending{f, source});
    }
    for (const auto& f : received) {
      for (const std::string& dep : f.dependency()) {
        if (files_.count(dep) == 0 && pool_.FindFileByName(dep) == nullptr) {
          queue.emplace_back(3, dep);
        }
      }
    }
    received.clear();
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  wait();
  ::grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  wait();
  std::vector<std::string> visiting;
  std::vector<std::string> names;
  for (const auto& [name, pending] : files_) {
    if (pending.source == source) names.push_back(name);
  }
  for (const std::string& name : names) {
    if (absl::Status s = BuildFile(name, visiting); !s.ok()) return s;
  }
  if (pool_.FindServiceByName(symbol) == nullptr) {
    return absl::NotFoundError(absl::StrCat(source, ": the server does not describe ", symbol));
  }
  return absl::OkStatus();
}

}  // namespace sluice::backend::grpc
