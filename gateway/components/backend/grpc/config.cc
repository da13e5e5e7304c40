#include "gateway/components/backend/grpc/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/http/tls.h"

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

// A PEM file's contents, or an error at `key`.
std::optional<std::string> ReadPem(config::ObjectReader& reader, const std::string& key,
                                   const std::string& path) {
  auto bytes = http::ReadPemFile(path);
  if (!bytes.ok()) {
    reader.Error(key, std::string(bytes.status().message()));
    return std::nullopt;
  }
  if (bytes->find("-----BEGIN ") == std::string::npos) {
    reader.Error(key, absl::StrCat("\"", path, "\" is not a PEM file"));
    return std::nullopt;
  }
  return std::move(*bytes);
}

Config::Tls ParseTls(config::ObjectReader& reader) {
  reader.CheckKeys({"ca_certs", "client_certs", "disable_system_ca_pool",
                    "allow_insecure_connections", "min_version", "max_version", "cipher_suites",
                    "curve_preferences"});
  Config::Tls tls;
  tls.insecure = reader.Bool("allow_insecure_connections").value_or(false);
  for (std::string_view key :
       {"min_version", "max_version", "cipher_suites", "curve_preferences"}) {
    if (reader.Has(key)) {
      reader.Warn(key,
                  "warning: not applied to gRPC backends: they negotiate TLS 1.2 (with gRPC's "
                  "ECDHE-AES-GCM suites) or TLS 1.3");
    }
  }
  const auto ca_certs = reader.Strings("ca_certs").value_or(std::vector<std::string>{});
  for (size_t i = 0; i < ca_certs.size(); ++i) {
    if (auto pem = ReadPem(reader, absl::StrCat("ca_certs[", i, "]"), ca_certs[i])) {
      tls.roots += *pem;
      tls.roots += "\n";
    }
  }
  if (reader.Bool("disable_system_ca_pool").value_or(false) && ca_certs.empty()) {
    reader.Error("disable_system_ca_pool", "without ca_certs no certificate would be trusted");
  }
  const nlohmann::json* certs = reader.Find("client_certs");
  if (certs != nullptr && certs->is_array() && !certs->empty()) {
    config::ObjectReader pair((*certs)[0], reader.PathOf("client_certs[0]"), reader.sink());
    auto certificate = pair.String("certificate");
    auto key = pair.String("private_key");
    if (!certificate || !key) {
      reader.Error("client_certs[0]", "needs certificate and private_key (PEM files)");
    } else {
      if (auto pem = ReadPem(reader, "client_certs[0].certificate", *certificate)) {
        tls.certificate_chain = *pem;
      }
      if (auto pem = ReadPem(reader, "client_certs[0].private_key", *key)) tls.private_key = *pem;
    }
  } else if (certs != nullptr && !certs->is_array()) {
    reader.Error("client_certs", "expected an array of {certificate, private_key}");
  }
  return tls;
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
  if (auto tls = reader.Object("client_tls")) {
    c->tls = ParseTls(*tls);
    if (c->tls->insecure && c->reflection) {
      tls->Error("allow_insecure_connections",
                 "not supported with \"descriptor_source\": \"reflection\" (gRPC's credentials "
                 "always verify the certificate): list the service's descriptor set in "
                 "extra_config.grpc.catalog, or trust the backend's CA with ca_certs");
    }
  }
  return c;
}

}  // namespace sluice::components::backend_grpc
