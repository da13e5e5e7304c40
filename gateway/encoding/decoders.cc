#include "gateway/encoding/decoders.h"

#include <string>
#include <utility>

#include "gateway/encoding/json.h"
#include "gateway/encoding/xml.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

Json Wrap(const char* key, Json value) {
  Json wrapped = Json::object();
  wrapped[key] = std::move(value);
  return wrapped;
}

absl::StatusOr<Json> DecodeSafeJson(std::string_view body) {
  absl::StatusOr<Json> value = ParseJson(body);
  if (!value.ok()) return value.status();
  if (value->is_object()) return value;
  if (value->is_array()) return Wrap("collection", *std::move(value));
  return Wrap("content", *std::move(value));
}

absl::StatusOr<Json> DecodeXml(std::string_view body, bool is_collection) {
  absl::StatusOr<Json> value = XmlToJson(body);
  if (!value.ok() || !is_collection) return value;
  return Wrap("collection", *std::move(value));
}

}  // namespace

absl::StatusOr<nlohmann::json> Decode(config::BackendEncoding encoding, std::string_view body,
                                      bool is_collection) {
  switch (encoding) {
    case config::BackendEncoding::kJson:
      return DecodeJson(body, is_collection);
    case config::BackendEncoding::kSafeJson:
      return DecodeSafeJson(body);
    case config::BackendEncoding::kString:
      return Wrap("content", std::string(body));
    case config::BackendEncoding::kXml:
    case config::BackendEncoding::kRss:
      return DecodeXml(body, is_collection);
    case config::BackendEncoding::kNoOp:
      break;
  }
  return absl::FailedPreconditionError("no-op bodies are passed through, not decoded");
}

}  // namespace sluice::encoding
