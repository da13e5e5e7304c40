#include "gateway/encoding/json.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace sluice::encoding {

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
  bool too_deep() const { return depth_ > kMaxJsonDepth; }

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

// nlohmann's lexer reads a NUL byte as the end of the input, so `{"a":1}\0anything` would parse
// as {"a":1}. JSON has no place for a raw NUL (inside strings it must be escaped), and Go's
// encoding/json (KrakenD) rejects such a body: so does this. Returns the NUL's offset, or npos.
size_t RawNul(std::string_view body) { return body.find('\0'); }

}  // namespace

absl::StatusOr<nlohmann::json> ParseClientJson(std::string_view body, size_t max_values) {
  if (const size_t nul = RawNul(body); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON (syntax error at byte ", nul + 1, ")"));
  }
  nlohmann::json value;
  BoundedDomBuilder builder(&value, max_values);
  const bool ok = nlohmann::json::sax_parse(body, &builder);
  if (!ok) {
    if (!builder.error().ok()) return builder.error();
    return absl::InvalidArgumentError("not valid JSON");
  }
  return value;
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view body) {
  // The same one pass as a client's body, without its value count: a backend's answer is
  // already bounded in bytes (max_response_bytes), and nlohmann's parser keeps its own stack, so
  // only what comes after parsing (copy, dump, destruction) recurses per level.
  if (RawNul(body) != std::string_view::npos) {
    return absl::InvalidArgumentError("body is not valid JSON");
  }
  nlohmann::json value;
  BoundedDomBuilder builder(&value, std::numeric_limits<size_t>::max());
  if (nlohmann::json::sax_parse(body, &builder)) return value;
  // Parsing stops at the first level over the limit, so too deep is known exactly; a body that
  // breaks its syntax before it gets that deep is "not valid JSON" (the old scan before the parse
  // said "too deep" for such a body if it nested past the limit later on).
  if (builder.too_deep()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels"));
  }
  return absl::InvalidArgumentError("body is not valid JSON");
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
  // dump() into one buffer that rarely grows: a typical answer fits in 512 bytes. The serializer
  // is nlohmann's detail API (what basic_json::dump uses inside, stable through 3.11); if an
  // upgrade moves it, `value.dump(-1, ' ', false, error_handler_t::replace)` is the same output.
  std::string out;
  out.reserve(512);
  nlohmann::detail::serializer<nlohmann::json> serializer(
      nlohmann::detail::output_adapter<char>(out), ' ', nlohmann::json::error_handler_t::replace);
  serializer.dump(value, false, false, 0);
  return out;
}

}  // namespace sluice::encoding
