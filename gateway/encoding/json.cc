#include "gateway/encoding/json.h"

#include "absl/strings/str_cat.h"

namespace sluice::encoding {

absl::StatusOr<nlohmann::json> DecodeJson(std::string_view body, bool is_collection) {
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
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
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", value.type_name(),
                     " (set is_collection for arrays)"));
  }
  return value;
}

std::string RenderJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sluice::encoding
