#pragma once

// KrakenD Enterprise's `backend/grpc` (backend level): the backend is a unary gRPC method named
// by url_pattern ("/package.Service/Method"), served by gateway/backend/grpc. Keys:
//   use_request_body, disable_query_params (bool)
//   input_mapping {param or query name: field path}, header_mapping {header: metadata key}
//   output_enum_as_string, output_timestamp_as_string, output_duration_as_string,
//   output_remove_unset_values (bool); request_naming_convention, response_naming_convention
//   ("snake_case" or "camelCase"); descriptor_source ("catalog" or "reflection")
//   client_tls {ca_certs, client_certs[{certificate, private_key}], disable_system_ca_pool,
//   allow_insecure_connections}: TLS 1.2 or 1.3 to the backend (allow_insecure_connections skips
//   the certificate's verification; refused with descriptor_source "reflection", whose gRPC C++
//   credentials always verify).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/config/reader.h"

namespace sluice::components::backend_grpc {

inline constexpr std::string_view kNamespace = "backend/grpc";

struct Config : config::ComponentConfig {
  bool use_request_body = false;
  bool disable_query_params = false;
  bool reflection = false;  // descriptors from the server's reflection when no catalog has them
  std::vector<std::pair<std::string, std::string>> input_mapping;   // name -> field path
  std::vector<std::pair<std::string, std::string>> header_mapping;  // lower-case header -> key
  bool camel_case = false;  // response_naming_convention camelCase
  bool enums_as_strings = false;
  bool timestamps_as_strings = false;
  bool durations_as_strings = false;
  bool omit_unset = false;
  // `client_tls`: the PEM contents, read at load. Empty roots: gRPC's default (system) roots.
  struct Tls {
    std::string roots;
    std::string private_key;
    std::string certificate_chain;
    bool insecure = false;  // allow_insecure_connections: the certificate is not verified
  };
  std::optional<Tls> tls;
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

}  // namespace sluice::components::backend_grpc
