#include "gateway/backend/grpc/backend.h"

#include <chrono>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace sluice::backend::grpc {

namespace gpb = google::protobuf;
using nlohmann::json;

namespace {

constexpr const char* kNamespace = "backend/grpc";

absl::Status KeyError(const config::Backend& b, std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".extra_config.\"", kNamespace,
                                                 "\".", absl::string_view(key.data(), key.size()),
                                                 ": ", absl::string_view(what.data(), what.size())));
}

std::string Quote(std::string_view s) {
  return absl::StrCat("\"", absl::string_view(s.data(), s.size()), "\"");
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Target(const config::HostAddress& h) {
  return h.host.find(':') != std::string::npos ? absl::StrCat("[", h.host, "]:", h.port)
                                                 : absl::StrCat(h.host, ":", h.port);
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
        return absl::InvalidArgumentError(absl::StrCat(
            type->full_name(), " in ", type->file()->name(),
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

ErrorKind KindOf(::grpc::StatusCode code) {
  switch (code) {
    case ::grpc::StatusCode::UNAVAILABLE: return ErrorKind::kConnect;
    case ::grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorKind::kTimeout;
    default: return ErrorKind::kStatus;
  }
}

// One call in flight. Deleted by its completion, which may come after the pipeline that started
// it is gone (shutdown past max_shutdown_wait_time): it holds nothing of the pipeline's, only
// the catalog's prototype and the runtime's counter, which outlive every call.
struct UnaryCall {
  ::grpc::ClientContext context;
  ::grpc::ByteBuffer request;
  ::grpc::ByteBuffer reply;
  rest::Callback done;
  boost::asio::io_context* ioc = nullptr;
  const gpb::Message* reply_prototype = nullptr;
  OutputOptions output;
  Runtime* runtime = nullptr;

  // Runs on a gRPC thread: the reply is converted here, then handed to the worker. Whatever
  // happens (even an allocation failure), the worker gets a result and the runtime its End.
  void Complete(const ::grpc::Status& status) {
    rest::CallResult result;
    try {
      result = Convert(status);
    } catch (const std::exception& e) {
      result = {};
      result.error = {ErrorKind::kDecode, absl::StrCat("converting the reply: ", e.what()), 502, -1};
    }
    boost::asio::post(*ioc, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    runtime->End(&context);
    delete this;
  }

  rest::CallResult Convert(const ::grpc::Status& status) {
    rest::CallResult result;
    if (!status.ok()) {
      const int code = static_cast<int>(status.error_code());
      // gRPC's own UNAVAILABLE text names backend addresses ("failed to connect to all
      // addresses; ... ipv4:10.0.3.7:9001"): clients get a fixed message, the log the detail.
      std::string message = status.error_message();
      if (status.error_code() == ::grpc::StatusCode::UNAVAILABLE) {
        log::Debug("gRPC UNAVAILABLE: {}", message);
        message = "backend unavailable";
      }
      result.error = {KindOf(status.error_code()), std::move(message), HttpStatusFromGrpc(code),
                      code};
      return result;
    }
    std::unique_ptr<gpb::Message> message(reply_prototype->New());
    ::grpc::ProtoBufferReader reader(&reply);
    if (!message->ParseFromZeroCopyStream(&reader)) {
      result.error = {ErrorKind::kDecode,
                      absl::StrCat("the reply is not a valid ",
                                   reply_prototype->GetDescriptor()->full_name()),
                      502, -1};
      return result;
    }
    auto json = MessageToJson(*message, output);
    if (!json.ok()) {
      result.error = {ErrorKind::kDecode, std::string(json.status().message()), 502, -1};
      return result;
    }
    result.response.result(200);
    result.data = std::move(*json);
    return result;
  }
};

}  // namespace

unsigned HttpStatusFromGrpc(int code) {
  static constexpr unsigned kTable[] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
                                        400, 409, 400, 501, 500, 503, 500, 401};
  return code >= 0 && code < 17 ? kTable[code] : 500;
}

// ------------------------------------------------------------------------------------ Runtime

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Create(const config::ServiceConfig& service) {
  std::unique_ptr<Runtime> rt(new Runtime());
  auto grpc = service.extra_config.find("grpc");
  if (grpc == service.extra_config.end()) return rt;
  if (!grpc->is_object()) return absl::InvalidArgumentError("extra_config.grpc: expected an object");
  auto catalog = grpc->find("catalog");
  if (catalog == grpc->end()) return rt;
  if (!catalog->is_array()) {
    return absl::InvalidArgumentError(
        "extra_config.grpc.catalog: expected an array of descriptor-set files or directories");
  }
  const std::string base = DirName(service.file_path);
  for (size_t i = 0; i < catalog->size(); ++i) {
    const json& entry = (*catalog)[i];
    const std::string where = absl::StrCat("extra_config.grpc.catalog[", i, "]");
    if (!entry.is_string() || entry.get_ref<const std::string&>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected a path"));
    }
    std::string path = entry.get<std::string>();
    if (path.front() != '/') path = absl::StrCat(base, "/", path);
    if (absl::Status s = rt->catalog_.AddPath(path); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
  }
  if (absl::Status s = rt->catalog_.Build(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("extra_config.grpc.catalog: ", s.message()));
  }
  return rt;
}

Runtime::~Runtime() {
  absl::MutexLock lock(&mu_);
  closing_ = true;
  for (::grpc::ClientContext* call : live_) call->TryCancel();
  // Cancelled calls complete at once (CANCELLED), each posting its result and calling End.
  mu_.Await(absl::Condition(
      +[](std::set<::grpc::ClientContext*>* live) { return live->empty(); }, &live_));
}

bool Runtime::Begin(::grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  if (closing_) return false;
  live_.insert(call);
  return true;
}

void Runtime::End(::grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  live_.erase(call);
}

std::shared_ptr<::grpc::Channel> Runtime::Channel(const config::HostAddress& host) {
  const std::string target = Target(host);
  for (const auto& [t, channel] : channels_) {
    if (t == target) return channel;
  }
  // A restarted backend is retried within a second, not after gRPC's default backoff (up to
  // 120 s, during which every call fails at once).
  ::grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = ::grpc::CreateCustomChannel(target, ::grpc::InsecureChannelCredentials(), args);
  channels_.emplace_back(target, channel);
  return channel;
}

// ------------------------------------------------------------------------------------ Options

absl::StatusOr<BackendOptions> BackendOptions::FromConfig(const config::Backend& b) {
  BackendOptions o;
  const json& extra = b.extra_config.at(kNamespace);
  if (!extra.is_object()) return KeyError(b, "", "expected an object");
  auto flag = [&](const char* key, bool* out) -> absl::Status {
    auto it = extra.find(key);
    if (it == extra.end()) return absl::OkStatus();
    if (!it->is_boolean()) return KeyError(b, key, "expected true or false");
    *out = it->get<bool>();
    return absl::OkStatus();
  };
  auto renames = [&](const char* key,
                     std::vector<std::pair<std::string, std::string>>* out) -> absl::Status {
    auto it = extra.find(key);
    if (it == extra.end()) return absl::OkStatus();
    if (!it->is_object()) return KeyError(b, key, "expected an object of names");
    for (const auto& [from, to] : it->items()) {
      if (!to.is_string() || to.get_ref<const std::string&>().empty()) {
        return KeyError(b, absl::StrCat(key, ".", from), "expected a non-empty string");
      }
      out->emplace_back(from, to.get<std::string>());
    }
    return absl::OkStatus();
  };
  for (const absl::Status& s :
       {flag("use_request_body", &o.use_request_body),
        flag("disable_query_params", &o.disable_query_params),
        flag("output_enum_as_string", &o.output.enums_as_strings),
        flag("output_timestamp_as_string", &o.output.timestamps_as_strings),
        flag("output_duration_as_string", &o.output.durations_as_strings),
        flag("output_remove_unset_values", &o.output.omit_unset),
        renames("input_mapping", &o.input_mapping), renames("header_mapping", &o.header_mapping)}) {
    if (!s.ok()) return s;
  }
  for (auto& [from, to] : o.header_mapping) {
    absl::AsciiStrToLower(&from);
    absl::AsciiStrToLower(&to);
  }
  for (const char* key : {"request_naming_convention", "response_naming_convention"}) {
    auto it = extra.find(key);
    if (it == extra.end()) continue;
    if (*it != "snake_case" && *it != "camelCase") {
      return KeyError(b, key, "expected \"snake_case\" or \"camelCase\"");
    }
    if (std::string_view(key) == "response_naming_convention") o.output.camel_case = *it == "camelCase";
  }
  if (auto it = extra.find("descriptor_source"); it != extra.end()) {
    if (*it != "catalog" && *it != "reflection") {
      return KeyError(b, "descriptor_source", "expected \"catalog\" or \"reflection\"");
    }
    o.reflection = *it == "reflection";
  }
  if (auto it = extra.find("client_tls"); it != extra.end() && !it->is_null() &&
                                          !(it->is_object() && it->empty())) {
    return KeyError(b, "client_tls", "TLS to gRPC backends is not supported yet");
  }
  return o;
}

// ------------------------------------------------------------------------------------ Backend

absl::StatusOr<std::unique_ptr<Backend>> Backend::Create(const config::Endpoint& endpoint,
                                                         const config::Backend& b,
                                                         Runtime& runtime) {
  auto options = BackendOptions::FromConfig(b);
  if (!options.ok()) return options.status();
  // url_pattern: "/package.Service/Method".
  const std::string& pattern = b.url_pattern;
  const size_t slash = pattern.rfind('/');
  if (pattern.size() < 4 || pattern.front() != '/' || slash == 0 || slash + 1 == pattern.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.json_path, ".url_pattern: ", Quote(pattern),
        " is not a gRPC method (expected \"/package.Service/Method\")"));
  }
  const std::string service = pattern.substr(1, slash - 1);
  const std::string method = pattern.substr(slash + 1);
  Catalog& catalog = runtime.catalog();
  if (catalog.pool().FindServiceByName(service) == nullptr && options->reflection) {
    if (b.hosts.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".host: no backend host"));
    }
    absl::Status s = catalog.AddFromReflection(Target(b.hosts[0]), service, absl::Seconds(5));
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
    return absl::InvalidArgumentError(absl::StrCat(
        b.json_path, ".url_pattern: ", m->full_name(), " streams; only unary methods are served"));
  }
  std::set<const gpb::Descriptor*> seen;
  for (const gpb::Descriptor* type : {m->input_type(), m->output_type()}) {
    if (absl::Status s = CheckWellKnownTypes(type, &seen); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(b.json_path, ".url_pattern: ", m->full_name(), ": ", s.message()));
    }
  }
  std::unique_ptr<Backend> backend(new Backend());
  backend->runtime_ = &runtime;
  backend->method_ = m;
  backend->request_prototype_ = catalog.factory().GetPrototype(m->input_type());
  backend->reply_prototype_ = catalog.factory().GetPrototype(m->output_type());
  backend->path_ = absl::StrCat("/", svc->full_name(), "/", m->name());
  backend->options_ = std::move(*options);
  for (const auto& [from, to] : backend->options_.input_mapping) {
    if (ResolvePath(m->input_type(), to).empty()) {
      return KeyError(b, absl::StrCat("input_mapping.", from),
                      absl::StrCat(Quote(to), " is not a field of ", m->input_type()->full_name()));
    }
  }
  (void)endpoint;
  for (const config::HostAddress& h : b.hosts) {
    backend->stubs_.push_back(std::make_unique<::grpc::GenericStub>(runtime.Channel(h)));
  }
  if (backend->stubs_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(b.json_path, ".host: no backend host"));
  }
  return backend;
}

std::string Backend::MappedName(std::string_view name) const {
  for (const auto& [from, to] : options_.input_mapping) {
    if (from == name) return to;
  }
  return std::string(name);
}

absl::Status Backend::BuildRequest(const http::Request& forwarded, const router::Params& params,
                                   std::string_view body, gpb::Message* message) const {
  const gpb::Descriptor* type = message->GetDescriptor();
  if (options_.use_request_body && !body.empty()) {
    absl::StatusOr<json> parsed = encoding::ParseClientJson(body);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request body: ", parsed.status().message()));
    }
    if (!parsed->is_object()) return absl::InvalidArgumentError("request body: expected an object");
    if (absl::Status s = JsonToMessage(*parsed, message); !s.ok()) return s;
  }
  // Query strings, then {params} (a parameter wins over a query string of the same field).
  // Names that match no field are skipped: the endpoint may pass them for another backend.
  json fields = json::object();
  auto add = [&](std::string_view name, std::string value) {
    const std::string path = MappedName(name);
    auto resolved = ResolvePath(type, path);
    if (resolved.empty()) return;
    Put(fields, resolved, std::move(value), /*append=*/true);
  };
  std::string_view target = Sv(forwarded.target());
  if (const size_t q = target.find('?'); q != std::string_view::npos && !options_.disable_query_params) {
    std::string_view query = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      if (amp == std::string_view::npos) amp = query.size();
      std::string pair(query.substr(pos, amp - pos));
      for (char& c : pair) c = c == '+' ? ' ' : c;
      const size_t eq = pair.find('=');
      const std::string key = router::PercentDecode(std::string_view(pair).substr(0, eq));
      if (!key.empty()) {
        add(key, eq == std::string::npos ? std::string()
                                         : router::PercentDecode(std::string_view(pair).substr(eq + 1)));
      }
      pos = amp + 1;
    }
  }
  json from_params = json::object();
  for (const auto& [name, value] : params) {
    const std::string path = MappedName(name);
    auto resolved = ResolvePath(type, path);
    if (resolved.empty()) continue;
    Put(from_params, resolved, value, /*append=*/false);
  }
  fields.merge_patch(from_params);
  return JsonToMessage(fields, message);
}

void Backend::Call(const http::Request& forwarded, const router::Params& params,
                   std::string_view body, rest::Deadline deadline, uint32_t host,
                   boost::asio::io_context& ioc, rest::Callback done) const {
  std::unique_ptr<gpb::Message> message(request_prototype_->New());
  if (absl::Status s = BuildRequest(forwarded, params, body, message.get()); !s.ok()) {
    rest::CallResult result;
    result.error = {ErrorKind::kRequest, std::string(s.message()), 400, 3};
    boost::asio::post(ioc, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    return;
  }
  auto* call = new UnaryCall();
  call->done = std::move(done);
  call->ioc = &ioc;
  call->reply_prototype = reply_prototype_;
  call->output = options_.output;
  call->runtime = runtime_;
  bool own_buffer = false;
  ::grpc::GenericSerialize<::grpc::ProtoBufferWriter, gpb::Message>(*message, &call->request,
                                                                    &own_buffer);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             (deadline - std::chrono::steady_clock::now()));
  std::string key;
  for (const auto& field : forwarded) {
    std::string_view name = Sv(field.name_string());
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
    std::string_view value = Sv(field.value());
    if (ValidMetadata(key, value)) call->context.AddMetadata(key, std::string(value));
  }
  if (!runtime_->Begin(&call->context)) {  // shutting down
    rest::CallResult result;
    result.error = {ErrorKind::kConnect, "the gateway is shutting down", 503, 14};
    boost::asio::post(ioc, [done = std::move(call->done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    delete call;
    return;
  }
  stubs_[host % stubs_.size()]->UnaryCall(&call->context, path_, ::grpc::StubOptions(),
                                          &call->request, &call->reply,
                                          [call](::grpc::Status status) { call->Complete(status); });
}

}  // namespace sluice::backend::grpc
