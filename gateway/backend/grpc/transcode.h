#pragma once

// JSON <-> protobuf messages of any type in a descriptor pool, by reflection and straight into
// nlohmann::json (no text round trip through protobuf's JSON printer). The mapping follows
// proto3 JSON (base64 bytes, RFC 3339 timestamps on input, enum names or numbers) with the
// output choices KrakenD EE offers, and it is lenient where URL parameters and query strings
// need it: any scalar may be given as a string ("42", "true", "RED").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace sluice::backend::grpc {

struct OutputOptions {
  bool camel_case = false;             // lowerCamel JSON names instead of proto field names
  bool enums_as_strings = false;       // enum value names instead of numbers
  bool timestamps_as_strings = false;  // Timestamp as RFC 3339 instead of {seconds, nanos}
  bool durations_as_strings = false;   // Duration as "1.5s" instead of {seconds, nanos}
  bool omit_unset = false;             // leave out fields that are not set
};

// Renders `message` as a JSON object. A message that would produce more than `max_values`
// JSON values (fields, list and map entries) is ResourceExhausted instead.
inline constexpr int64_t kMaxReplyValues = 1000000;
absl::StatusOr<nlohmann::json> MessageToJson(const google::protobuf::Message& message,
                                             const OutputOptions& options,
                                             int64_t max_values = kMaxReplyValues);

// What encoding::RenderJson(*MessageToJson(message, options, max_values)) writes, written
// without the tree, for a reply whose type RendersAsObject (not a well-known type with a JSON
// form of its own). The same ResourceExhausted error past `max_values`.
bool RendersAsObject(const google::protobuf::Descriptor* type, const OutputOptions& options);
absl::Status RenderMessageJson(const google::protobuf::Message& message,
                               const OutputOptions& options, std::string* out,
                               int64_t max_values = kMaxReplyValues);

// Fills `message` from a JSON object. Field names may be proto names or JSON (lowerCamel)
// names. An unknown field or a value of the wrong type is InvalidArgument naming the field by
// its dotted path ("filter.price.min").
absl::Status JsonToMessage(const nlohmann::json& json, google::protobuf::Message* message);

// Finds the field path named by `dotted` ("a.b.c", proto or JSON names) from `type`. Empty when
// some part names no field, or a non-final part is not a singular message field.
std::vector<const google::protobuf::FieldDescriptor*> ResolvePath(
    const google::protobuf::Descriptor* type, std::string_view dotted);

}  // namespace sluice::backend::grpc
