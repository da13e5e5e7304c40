#include "gateway/encoding/json.h"

#include "absl/strings/str_cat.h"

namespace sluice::encoding {

absl::Status CheckJsonDepth(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return absl::InvalidArgumentError(
              absl::StrCat("JSON nests deeper than ", max_depth, " levels"));
        }
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view body) {
  if (absl::Status depth = CheckJsonDepth(body); !depth.ok()) return depth;
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
  return value;
}

absl::StatusOr<nlohmann::json> DecodeJson(std::string_view body, bool is_collection) {
  absl::StatusOr<nlohmann::json> parsed = ParseJson(body);
  if (!parsed.ok()) return parsed.status();
  nlohmann::json& value = *parsed;
  if (is_collection) {
    if (!value.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("is_collection expects a JSON array, got ", value.type_name()));
    }
    nlohmann::json wrapped = nlohmann::json::object();
    wrapped["collection"] = std::move(value);
    return wrapped;
  }
  if (!value.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a JSON object, got ", value.type_name(), " (set is_collection for arrays)"));
  }
  return std::move(value);
}

std::string RenderJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sluice::encoding
