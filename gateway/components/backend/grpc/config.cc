#include "gateway/components/backend/grpc/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sluice::components::backend_grpc {

namespace {

// An object of name -> non-empty string, in the file's order.
void Renames(config::ObjectReader& reader, std::string_view key,
             std::vector<std::pair<std::string, std::string>>* out) {
  const nlohmann::json* v = reader.Find(key);
  if (v == nullptr) return;
  if (!v->is_object()) {
    reader.Error(key, "expected an object of names");
    return;
  }
  for (const auto& [from, to] : v->items()) {
    if (!to.is_string() || to.get_ref<const std::string&>().empty()) {
      reader.Error(absl::StrCat(absl::string_view(key.data(), key.size()), ".", from),
                   "expected a non-empty string");
      continue;
    }
    out->emplace_back(from, to.get<std::string>());
  }
}

}  // namespace

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto c = std::make_shared<Config>();
  auto flag = [&](std::string_view key, bool* out) {
    if (auto v = reader.Bool(key)) *out = *v;
  };
  flag("use_request_body", &c->use_request_body);
  flag("disable_query_params", &c->disable_query_params);
  flag("output_enum_as_string", &c->enums_as_strings);
  flag("output_timestamp_as_string", &c->timestamps_as_strings);
  flag("output_duration_as_string", &c->durations_as_strings);
  flag("output_remove_unset_values", &c->omit_unset);
  Renames(reader, "input_mapping", &c->input_mapping);
  Renames(reader, "header_mapping", &c->header_mapping);
  for (auto& [from, to] : c->header_mapping) {
    absl::AsciiStrToLower(&from);
    absl::AsciiStrToLower(&to);
  }
  for (std::string_view key : {"request_naming_convention", "response_naming_convention"}) {
    auto v = reader.String(key);
    if (!v) continue;
    if (*v != "snake_case" && *v != "camelCase") {
      reader.Error(key, "expected \"snake_case\" or \"camelCase\"");
    } else if (key == "response_naming_convention") {
      c->camel_case = *v == "camelCase";
    }
  }
  if (auto v = reader.String("descriptor_source")) {
    if (*v != "catalog" && *v != "reflection") {
      reader.Error("descriptor_source", "expected \"catalog\" or \"reflection\"");
    }
    c->reflection = *v == "reflection";
  }
  if (const nlohmann::json* tls = reader.Find("client_tls");
      tls != nullptr && !(tls->is_object() && tls->empty())) {
    reader.Error("client_tls", "TLS to gRPC backends is not supported yet");
  }
  return c;
}

}  // namespace sluice::components::backend_grpc
