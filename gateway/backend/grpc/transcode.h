#pragma once

// JSON <-> protobuf messages of any type in a descriptor pool, by reflection and straight into
// nlohmann::json (no text round trip through protobuf's JSON printer). The mapping follows
// proto3 JSON (base64 bytes, RFC 3339 timestamps on input, enum names or numbers) with the
// output choices KrakenD EE offers, and it is lenient where URL parameters and query strings
// need it: any scalar may be given as a string ("42", "true", "RED").

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// How RenderMessageJson and RenderWireJson write one reply type: the members of each message
// type reachable from it, in the order the rendered objects list them, and what the wire writer
// reads of each field, worked out once.
class JsonLayout {
 public:
  struct Member {
    std::string_view name;  // the field's JSON key (proto or lowerCamel name)
    const google::protobuf::FieldDescriptor* field;
    std::string key;  // `"name":`, as the writers put it before the value (set once valid)
    int index = 0;    // the field's declaration index: its Type::fields entry
  };

  struct Type;

  // What RenderWireJson reads of one field, taken from its descriptor once (each of the
  // descriptor's accessors is a call; type() also checks a std::call_once).
  struct WireField {
    const google::protobuf::FieldDescriptor* field = nullptr;
    const google::protobuf::Descriptor* message_type = nullptr;  // message fields (map: the entry)
    const Type* message = nullptr;  // message_type's Type; null: a form of its own (or none held)
    google::protobuf::FieldDescriptor::Type type{};
    google::protobuf::FieldDescriptor::CppType cpp_type{};
    int wire_type = 0;  // of one non-packed value
    int index = 0;      // declaration index
    int oneof = -1;     // index of its real oneof
    bool repeated = false;
    bool packable = false;
    bool map = false;
    bool required = false;
    bool presence = false;     // has_presence()
    bool closed_enum = false;  // an enum field of a proto2 file: unknown numbers are not kept
  };

  // One message type reachable from the reply type.
  struct Type {
    std::vector<Member> members;     // sorted by key; empty unless `held`
    std::vector<WireField> fields;   // in declaration order
    std::vector<int32_t> by_number;  // field number -> declaration index (-1: none), small numbers
    const google::protobuf::Descriptor* descriptor = nullptr;
    int oneofs = 0;     // real oneofs
    bool held = false;  // written from members (not a map entry; names unique and UTF-8)

    // The field numbered `number`, or null.
    const WireField* FieldOf(uint32_t number) const;
  };

  // Null for a type with a JSON form of its own (a well-known type: Struct, Value, ListValue,
  // wrappers, Timestamp and Duration as strings), whose replies take MessageToJson. `factory`
  // (the reply's) gives RenderWireJson the prototypes of such types inside a reply; without it
  // RenderWireJson declines replies holding one. The descriptors and the factory must outlive
  // the layout.
  static std::unique_ptr<const JsonLayout> Create(
      const google::protobuf::Descriptor* type, const OutputOptions& options,
      google::protobuf::MessageFactory* factory = nullptr);

  const OutputOptions& options() const { return options_; }
  const google::protobuf::Descriptor* type() const { return type_; }  // the reply type
  // `d`'s fields sorted by key (bytewise); null for a type the layout does not hold: one with
  // a JSON form of its own, or whose fields share a JSON name or have one that is not UTF-8.
  const std::vector<Member>* MembersOf(const google::protobuf::Descriptor* d) const;
  // `d`'s Type when the layout holds it (as MembersOf), else null.
  const Type* TypeOf(const google::protobuf::Descriptor* d) const;
  // The prototype of a well-known type with a form of its own, reachable from the reply type;
  // null without a factory.
  const google::protobuf::Message* PrototypeOf(const google::protobuf::Descriptor* d) const;

 private:
  JsonLayout() = default;
  void Add(const google::protobuf::Descriptor* d, google::protobuf::MessageFactory* factory);

  OutputOptions options_;
  const google::protobuf::Descriptor* type_ = nullptr;
  absl::flat_hash_map<const google::protobuf::Descriptor*, const google::protobuf::Message*>
      prototypes_;
  // Every type reachable from the reply type but those with a form of their own, map entries
  // among them (unique_ptr: WireField::message points at them).
  absl::flat_hash_map<const google::protobuf::Descriptor*, std::unique_ptr<Type>> types_;
};

// What encoding::RenderJson(*MessageToJson(message, layout.options(), max_values)) writes,
// written without the tree, for a reply of the type `layout` was made for: the same bytes, or
// the same ResourceExhausted error past `max_values`.
absl::Status RenderMessageJson(const google::protobuf::Message& message, const JsonLayout& layout,
                               std::string* out, int64_t max_values = kMaxReplyValues);

// The reply's wire bytes (of layout.type()) written as RenderMessageJson writes the message
// protobuf parses from them, without parsing it; the fast path for replies. False, with `out`
// as it was, wherever protobuf's parser might read the bytes differently or fail (anything
// invalid, a singular field or a oneof given twice, groups, strings that are not UTF-8,
// closed enums' unknown values, well-known types with a form of their own, deep nesting) and
// for a reply past `max_values`: the caller then parses and renders the message.
bool RenderWireJson(std::string_view bytes, const JsonLayout& layout, std::string* out,
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
