#include "gateway/backend/grpc/backend.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "gateway/common/logging.h"
#include "gateway/encoding/json.h"
#include "google/protobuf/arena.h"
#include "grpcpp/support/status_code_enum.h"

namespace sluice::backend::grpc {

namespace gpb = google::protobuf;
using nlohmann::json;

namespace {

// Where a backend's gRPC options are, for messages.
absl::Status KeyError(const config::Backend& b, std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".extra_config.backend/grpc.",
                                                 absl::string_view(key.data(), key.size()), ": ",
                                                 absl::string_view(what.data(), what.size())));
}

std::string Quote(std::string_view s) {
  return absl::StrCat("\"", absl::string_view(s.data(), s.size()), "\"");
}

// Sets `value` at the field path `fields` in a JSON object tree, keyed by proto field names so
// that every spelling of a field (proto name, JSON name) lands on one key. With `append`, a
// repeated field collects values into an array.
void Put(json& root, const std::vector<const gpb::FieldDescriptor*>& fields, std::string value,
         bool append) {
  json* node = &root;
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    json& next = (*node)[fields[i]->name()];
    if (!next.is_object()) next = json::object();
    node = &next;
  }
  json& leaf = (*node)[fields.back()->name()];
  if (append && fields.back()->is_repeated()) {
    if (!leaf.is_array()) leaf = json::array();
    leaf.push_back(std::move(value));
  } else {
    leaf = std::move(value);
  }
}

// Metadata keys: lower-case [0-9a-z_.-]; values printable ASCII (gRPC rejects the others).
bool ValidMetadata(std::string_view key, std::string_view value) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Headers gRPC sets itself, or that make no sense as metadata.
bool ReservedHeader(std::string_view lower) {
  return lower == "content-type" || lower == "content-length" || lower == "user-agent" ||
         lower == "te" || lower == "host" || lower == "connection" || lower == "transfer-encoding";
}

// The transcoder reads well-known types (google.protobuf.Timestamp, Struct...) by their standard
// layout. A catalog or a reflecting server may describe them differently; such a schema is
// refused at start instead of crashing on the first reply. Checks every message type reachable
// from `type`.
absl::Status CheckWellKnownTypes(const gpb::Descriptor* type,
                                 std::set<const gpb::Descriptor*>* seen) {
  if (!seen->insert(type).second) return absl::OkStatus();
  if (type->file()->package() == "google.protobuf") {
    const gpb::Descriptor* standard =
        gpb::DescriptorPool::generated_pool()->FindMessageTypeByName(type->full_name());
    if (standard != nullptr) {
      // Same fields: numbers, names, types, labels and, for messages and enums, type names.
      bool same = type->field_count() == standard->field_count() &&
                  type->oneof_decl_count() == standard->oneof_decl_count();
      for (int i = 0; same && i < type->field_count(); ++i) {
        const gpb::FieldDescriptor* a = type->field(i);
        const gpb::FieldDescriptor* s = standard->FindFieldByNumber(a->number());
        same = s != nullptr && a->name() == s->name() && a->type() == s->type() &&
               a->label() == s->label() &&
               (a->message_type() == nullptr ||
                a->message_type()->full_name() == s->message_type()->full_name()) &&
               (a->enum_type() == nullptr ||
                a->enum_type()->full_name() == s->enum_type()->full_name());
      }
      if (!same) {
        return absl::InvalidArgumentError(absl::StrCat(type->full_name(), " in ",
                                                       type->file()->name(),
                                                       " differs from the standard definition"));
      }
    }
  }
  for (int i = 0; i < type->field_count(); ++i) {
    if (const gpb::Descriptor* sub = type->field(i)->message_type()) {
      if (absl::Status s = CheckWellKnownTypes(sub, seen); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Where a call's request and reply messages live: their fields, strings and sub-messages come
// from one block on the stack (a typical message fits) and are freed together, instead of one
// allocation and one free per field.
struct Arena {
  alignas(8) char block[4096];
  gpb::Arena arena{block, sizeof block};
};

// The backend's answer: a failed call's status, or the reply (its wire bytes, `payload`) as
// JSON, in `data` or, given a `layout`, rendered in `body` (straight from the bytes where
// RenderWireJson can). Whatever happens (even an allocation failure) it is an answer.
BackendResponse Answer(int code, std::string message, const gpb::Message& prototype,
                       const OutputOptions& output, const JsonLayout* layout,
                       std::string_view payload) {
  BackendResponse result;
  try {
    if (code != 0) {
      // UNAVAILABLE texts name backend addresses and say why a connection failed ("connect:
      // Connection refused", "tls: ... hostname mismatch"): clients get a fixed message, the log
      // the detail (as a REST backend's failure is logged).
      if (code == static_cast<int>(::grpc::StatusCode::UNAVAILABLE)) {
        log::Warn("gRPC backend unavailable: {}", message);
        message = "backend unavailable";
      }
      result.error = Error::Grpc(code, std::move(message));
      return result;
    }
    if (layout != nullptr) {
      result.body.reserve(512);
      if (RenderWireJson(payload, *layout, &result.body)) {
        result.status = 200;
        result.rendered_json = true;
        return result;
      }
    }
    Arena arena;
    gpb::Message* reply = prototype.New(&arena.arena);
    if (payload.size() > INT32_MAX ||
        !reply->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      result.error = Error::Of(
          ErrorKind::kDecode,
          absl::StrCat("the reply is not a valid ", prototype.GetDescriptor()->full_name()));
      return result;
    }
    if (layout != nullptr) {
      if (absl::Status s = RenderMessageJson(*reply, *layout, &result.body); !s.ok()) {
        result.error = Error::Of(ErrorKind::kDecode, std::string(s.message()));
        return result;
      }
      result.status = 200;
      result.rendered_json = true;
      return result;
    }
    auto json = MessageToJson(*reply, output);
    if (!json.ok()) {
      result.error = Error::Of(ErrorKind::kDecode, std::string(json.status().message()));
      return result;
    }
    result.status = 200;
    result.data = std::move(*json);
  } catch (const std::exception& e) {
    result = {};
    result.error = Error::Of(ErrorKind::kDecode, absl::StrCat("converting the reply: ", e.what()));
  }
  return result;
}

// Answers a call that cannot start, on the worker's loop (never inside Call).
void Fail(boost::asio::io_context& ioc, Done done, Error error) {
  BackendResponse result;
  result.error = std::move(error);
  boost::asio::post(ioc, [done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcBackend>> GrpcBackend::Create(
    const config::Backend& b, const components::backend_grpc::Config& options, Channels& channels) {
  // url_pattern: "/package.Service/Method".
  const std::string& pattern = b.url_pattern;
  const size_t slash = pattern.rfind('/');
  if (pattern.size() < 4 || pattern.front() != '/' || slash == 0 || slash + 1 == pattern.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(b.json_path, ".url_pattern: ", Quote(pattern),
                     " is not a gRPC method (expected \"/package.Service/Method\")"));
  }
  const std::string service = pattern.substr(1, slash - 1);
  const std::string method = pattern.substr(slash + 1);
  // The hosts first: a client_tls that does not load is reported as such, not as a failed
  // reflection over it.
  std::vector<int> slots;
  for (const config::HostAddress& h : b.hosts) {
    auto slot = channels.RegisterHost(h, options.tls ? &*options.tls : nullptr);
    if (!slot.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(b.json_path, ".extra_config.backend/grpc.", slot.status().message()));
    }
    slots.push_back(*slot);
  }
  if (slots.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".host: no backend host"));
  }
  if (options.tls && options.tls->insecure && channels.serving()) {
    log::Warn(
        "{}.extra_config.backend/grpc.client_tls.allow_insecure_connections: the gRPC backend's "
        "certificate is NOT verified; anyone on the path to it can read and change the traffic",
        b.json_path);
  }
  Catalog& catalog = channels.catalog();
  if (catalog.pool().FindServiceByName(service) == nullptr && options.reflection) {
    absl::Status s = catalog.AddFromReflection(Target(b.hosts[0]),
                                               Credentials(options.tls ? &*options.tls : nullptr),
                                               service, absl::Seconds(5));
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(b.json_path, ": ", s.message()));
    }
  }
  const gpb::ServiceDescriptor* svc = catalog.pool().FindServiceByName(service);
  if (svc == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.json_path, ".url_pattern: no catalog file describes the service ", Quote(service),
        " (list its descriptor set in extra_config.grpc.catalog, or set \"descriptor_source\": "
        "\"reflection\")"));
  }
  const gpb::MethodDescriptor* m = svc->FindMethodByName(method);
  if (m == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".url_pattern: ", Quote(service),
                                                   " has no method ", Quote(method)));
  }
  if (m->client_streaming() || m->server_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".url_pattern: ", m->full_name(),
                                                   " streams; only unary methods are served"));
  }
  std::set<const gpb::Descriptor*> seen;
  for (const gpb::Descriptor* type : {m->input_type(), m->output_type()}) {
    if (absl::Status s = CheckWellKnownTypes(type, &seen); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(b.json_path, ".url_pattern: ", m->full_name(), ": ", s.message()));
    }
  }
  std::unique_ptr<GrpcBackend> backend(new GrpcBackend());
  backend->channels_ = &channels;
  backend->method_ = m;
  backend->request_prototype_ = catalog.factory().GetPrototype(m->input_type());
  backend->reply_prototype_ = catalog.factory().GetPrototype(m->output_type());
  backend->path_ = absl::StrCat("/", svc->full_name(), "/", m->name());
  backend->options_ = options;
  backend->output_.camel_case = options.camel_case;
  backend->output_.enums_as_strings = options.enums_as_strings;
  backend->output_.timestamps_as_strings = options.timestamps_as_strings;
  backend->output_.durations_as_strings = options.durations_as_strings;
  backend->output_.omit_unset = options.omit_unset;
  backend->layout_ =
      JsonLayout::Create(m->output_type(), backend->output_,
                         backend->reply_prototype_->GetReflection()->GetMessageFactory());
  for (const auto& [from, to] : backend->options_.input_mapping) {
    if (ResolvePath(m->input_type(), to).empty()) {
      return KeyError(b, absl::StrCat("input_mapping.", from),
                      absl::StrCat(Quote(to), " is not a field of ", m->input_type()->full_name()));
    }
  }
  backend->slots_ = std::move(slots);
  return backend;
}

std::string GrpcBackend::MappedName(std::string_view name) const {
  for (const auto& [from, to] : options_.input_mapping) {
    if (from == name) return to;
  }
  return std::string(name);
}

absl::Status GrpcBackend::BuildRequest(const BackendRequest& request, gpb::Message* message) const {
  const gpb::Descriptor* type = message->GetDescriptor();
  if (options_.use_request_body && !request.body.empty()) {
    absl::StatusOr<json> parsed = encoding::ParseClientJson(request.body);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request body: ", parsed.status().message()));
    }
    if (!parsed->is_object()) return absl::InvalidArgumentError("request body: expected an object");
    if (absl::Status s = JsonToMessage(*parsed, message); !s.ok()) return s;
  }
  // Query strings, then {params} (a parameter wins over a query string of the same field).
  // Names that match no field are skipped: the endpoint may pass them for another backend.
  json fields = json::object();
  if (!options_.disable_query_params) {
    for (const auto& [name, value] : request.query) {
      if (name.empty()) continue;
      auto resolved = ResolvePath(type, MappedName(name));
      if (resolved.empty()) continue;
      Put(fields, resolved, value, /*append=*/true);
    }
  }
  json from_params = json::object();
  if (request.params != nullptr) {
    for (const auto& [name, value] : *request.params) {
      auto resolved = ResolvePath(type, MappedName(name));
      if (resolved.empty()) continue;
      Put(from_params, resolved, value, /*append=*/false);
    }
  }
  fields.merge_patch(from_params);
  return JsonToMessage(fields, message);
}

Metadata GrpcBackend::MetadataOf(const Fields& headers) const {
  Metadata metadata;
  metadata.reserve(headers.size());  // one allocation, not one per doubling
  std::string key;
  for (const auto& field : headers) {
    const auto name = field.name_string();
    key.assign(name.begin(), name.end());
    absl::AsciiStrToLower(&key);
    if (ReservedHeader(key)) continue;
    for (const auto& [from, to] : options_.header_mapping) {
      if (from == key) {
        key = to;
        break;
      }
    }
    if (key.rfind("grpc", 0) == 0) key.insert(0, "in-");  // grpc-* is reserved (as KrakenD)
    const std::string_view value(field.value().data(), field.value().size());
    if (ValidMetadata(key, value)) metadata.emplace_back(key, std::string(value));
  }
  return metadata;
}

void GrpcBackend::Call(BackendRequest&& request, const CallContext& ctx, Deadline deadline,
                       Done done) const {
  Arena arena;
  gpb::Message* message = request_prototype_->New(&arena.arena);
  if (absl::Status s = BuildRequest(request, message); !s.ok()) {
    // The client's input does not fit the message: answered as INVALID_ARGUMENT would be.
    Error error = Error::Of(ErrorKind::kRequest, std::string(s.message()));
    error.grpc_code = static_cast<int>(::grpc::StatusCode::INVALID_ARGUMENT);
    return Fail(*ctx.ioc, std::move(done), std::move(error));
  }
  std::string framed = FramedMessage(message->ByteSizeLong(), [message](char* out) {
    message->SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out));
  });
  channels_->client(ctx.worker)
      .Call(slots_[request.host % slots_.size()], path_, MetadataOf(request.headers),
            std::move(framed), deadline,
            [done = std::move(done), prototype = reply_prototype_, output = output_,
             layout = request.render_json ? layout_.get() : nullptr](UnaryReply&& reply) mutable {
              done(Answer(reply.code, std::move(reply.message), *prototype, output, layout,
                          reply.payload));
            });
}

}  // namespace sluice::backend::grpc
