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

namespace {

// nlohmann's own DOM builder behind a SAX consumer that counts values and depth and stops the
// parser (by returning false) at the first one over a limit, before it is stored.
class BoundedDomBuilder {
 public:
  using Json = nlohmann::json;
  BoundedDomBuilder(Json* out, size_t max_values) : dom_(*out, false), max_values_(max_values) {}

  bool null() { return Count() && dom_.null(); }
  bool boolean(bool v) { return Count() && dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return Count() && dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Count() && dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) {
    return Count() && dom_.number_float(v, s);
  }
  bool string(Json::string_t& v) { return Count() && dom_.string(v); }
  bool binary(Json::binary_t& v) { return Count() && dom_.binary(v); }
  bool start_object(std::size_t n) { return Count() && Enter() && dom_.start_object(n); }
  bool key(Json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return Count() && Enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("not valid JSON (syntax error at byte ", position, ")"));
    return false;
  }

  const absl::Status& error() const { return error_; }

 private:
  bool Count() {
    if (++values_ <= max_values_) return true;
    error_ =
        absl::InvalidArgumentError(absl::StrCat("holds more than ", max_values_, " JSON values"));
    return false;
  }
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ =
        absl::InvalidArgumentError(absl::StrCat("nests deeper than ", kMaxJsonDepth, " levels"));
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  size_t max_values_;
  size_t values_ = 0;
  int depth_ = 0;
  absl::Status error_;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseClientJson(std::string_view body, size_t max_values) {
  nlohmann::json value;
  BoundedDomBuilder builder(&value, max_values);
  const bool ok = nlohmann::json::sax_parse(body, &builder);
  if (!ok) {
    if (!builder.error().ok()) return builder.error();
    return absl::InvalidArgumentError("not valid JSON");
  }
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
