#pragma once

// JSON decoding of backend bodies and JSON rendering of endpoint answers.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

inline constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";

// Decodes a backend body with the `json` encoding: the body must be a JSON object, or, with
// `is_collection`, an array that becomes {"collection": [...]}. Never throws.
absl::StatusOr<nlohmann::json> DecodeJson(std::string_view body, bool is_collection);

// Renders compactly with keys sorted (nlohmann objects are ordered maps). Invalid UTF-8 in
// strings is replaced rather than failing the response.
std::string RenderJson(const nlohmann::json& value);

}  // namespace sluice::encoding
