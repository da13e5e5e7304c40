#include "gateway/backend/grpc/transcode.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/encoding/json.h"
#include "gateway/encoding/utf8.h"
#include "google/protobuf/arena.h"

namespace sluice::backend::grpc {

namespace gpb = google::protobuf;
using gpb::FieldDescriptor;
using nlohmann::json;

namespace {

constexpr std::string_view kTimestamp = "google.protobuf.Timestamp";
constexpr std::string_view kDuration = "google.protobuf.Duration";
constexpr std::string_view kStruct = "google.protobuf.Struct";
constexpr std::string_view kValue = "google.protobuf.Value";
constexpr std::string_view kListValue = "google.protobuf.ListValue";

bool IsWrapper(const gpb::Descriptor* d) {
  const std::string& n = d->full_name();
  return d->file()->name() == "google/protobuf/wrappers.proto" && n.size() > 5 &&
         n.compare(n.size() - 5, 5, "Value") == 0;
}

std::string_view Name(const gpb::Descriptor* d) { return d->full_name(); }

// ----------------------------------------------------------------------------------- output

// The double whose shortest text equals the float's shortest text: 19.1f prints as 19.1, not as
// 19.100000381469727.
double ShortestDouble(float f) {
  if (!std::isfinite(f)) return f;
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f);
  if (ec != std::errc()) return f;
  double d = f;
  std::from_chars(buf, end, d);
  return d;
}

json FloatToJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// proto3 JSON's limits: Duration within +-10000 years, Timestamp within years 1-9999, nanos
// below one second with the sign of the seconds. Values outside (only a broken or hostile
// backend sends them) are printed as {seconds, nanos} instead.
constexpr int64_t kMaxDurationSeconds = 315576000000;
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z

bool ValidDuration(int64_t seconds, int32_t nanos) {
  return seconds >= -kMaxDurationSeconds && seconds <= kMaxDurationSeconds && nanos > -1000000000 &&
         nanos < 1000000000 && !(seconds > 0 && nanos < 0) && !(seconds < 0 && nanos > 0);
}

bool ValidTimestamp(int64_t seconds, int32_t nanos) {
  return seconds >= kMinTimestampSeconds && seconds <= kMaxTimestampSeconds && nanos >= 0 &&
         nanos < 1000000000;
}

// "1.5s", "-0.000000001s", "3s": 0, 3, 6 or 9 fractional digits, as proto3 JSON prints them.
// The arguments must pass ValidDuration.
std::string FormatDuration(int64_t seconds, int32_t nanos) {
  std::string out;
  if (seconds < 0 || nanos < 0) {
    out = "-";
    seconds = -seconds;
    nanos = -nanos;
  }
  absl::StrAppend(&out, seconds);
  if (nanos != 0) {
    std::string frac = absl::StrCat(int64_t{nanos} + 1000000000).substr(1);  // 9 digits
    while (frac.size() > 3 && frac.compare(frac.size() - 3, 3, "000") == 0)
      frac.resize(frac.size() - 3);
    absl::StrAppend(&out, ".", frac);
  }
  out.push_back('s');
  return out;
}

// The arguments must pass ValidTimestamp.
std::string FormatTimestamp(int64_t seconds, int32_t nanos) {
  absl::Time t = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());  // ...T10:30:00.5Z
}

json MessageValue(const gpb::Message& m, const OutputOptions& o);

// JSON values a reply may still produce. Unset fields are printed by default, so a few bytes of
// empty sub-messages can expand into millions of values: a hostile reply must fail, not exhaust
// memory. The conversion runs on one thread at a time, start to end.
thread_local int64_t t_values_left = 0;

// One value of field `f` (element `index` when repeated).
json FieldValue(const gpb::Message& m, const FieldDescriptor* f, int index,
                const OutputOptions& o) {
  const gpb::Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FloatToJson(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FloatToJson(
          ShortestDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f)));
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (f->enum_type()->full_name() == "google.protobuf.NullValue") return nullptr;
      if (o.enums_as_strings) {
        if (const auto* v = f->enum_type()->FindValueByNumber(number)) return v->name();
      }
      return number;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) return absl::Base64Escape(s);
      return s;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageValue(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), o);
  }
  return nullptr;
}

std::string MapKey(const gpb::Message& entry, const FieldDescriptor* key) {
  json k = FieldValue(entry, key, -1, OutputOptions{});
  if (k.is_string()) return k.get<std::string>();
  return k.dump();  // numbers and booleans: their JSON text
}

// A map field's entries as an object; of entries sharing a key, the last one's value.
json MapValue(const gpb::Message& m, const FieldDescriptor* f, const OutputOptions& o) {
  const gpb::Reflection* r = m.GetReflection();
  const FieldDescriptor* key = f->message_type()->map_key();
  const FieldDescriptor* value = f->message_type()->map_value();
  json obj = json::object();
  for (int k = 0; k < r->FieldSize(m, f); ++k) {
    const gpb::Message& entry = r->GetRepeatedMessage(m, f, k);
    obj[MapKey(entry, key)] = FieldValue(entry, value, -1, o);
  }
  return obj;
}

json FieldsToJson(const gpb::Message& m, const OutputOptions& o) {
  json out = json::object();
  const gpb::Descriptor* d = m.GetDescriptor();
  const gpb::Reflection* r = m.GetReflection();
  t_values_left -= d->field_count();
  if (t_values_left < 0) return out;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string& name = o.camel_case ? f->json_name() : f->name();
    if (f->is_map()) {
      const int n = r->FieldSize(m, f);
      if (n == 0 && o.omit_unset) continue;
      t_values_left -= n;
      if (t_values_left < 0) return out;
      out[name] = MapValue(m, f, o);
    } else if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n == 0 && o.omit_unset) continue;
      t_values_left -= n;
      if (t_values_left < 0) return out;
      json arr = json::array();
      for (int k = 0; k < n; ++k) arr.push_back(FieldValue(m, f, k, o));
      out[name] = std::move(arr);
    } else if (!r->HasField(m, f)) {
      // A oneof shows its chosen member only; other unset fields print their default (a
      // message: null) unless omit_unset.
      if (o.omit_unset || f->real_containing_oneof() != nullptr) continue;
      out[name] = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? json(nullptr)
                                                                    : FieldValue(m, f, -1, o);
    } else {
      out[name] = FieldValue(m, f, -1, o);
    }
  }
  return out;
}

json MessageValue(const gpb::Message& m, const OutputOptions& o) {
  const gpb::Descriptor* d = m.GetDescriptor();
  const gpb::Reflection* r = m.GetReflection();
  auto field = [d](int number) { return d->FindFieldByNumber(number); };
  if ((Name(d) == kTimestamp && o.timestamps_as_strings) ||
      (Name(d) == kDuration && o.durations_as_strings)) {
    const int64_t seconds = r->GetInt64(m, field(1));
    const int32_t nanos = r->GetInt32(m, field(2));
    if (Name(d) == kTimestamp && ValidTimestamp(seconds, nanos)) {
      return FormatTimestamp(seconds, nanos);
    }
    if (Name(d) == kDuration && ValidDuration(seconds, nanos))
      return FormatDuration(seconds, nanos);
  }
  if (IsWrapper(d)) return FieldValue(m, field(1), -1, o);
  if (Name(d) == kStruct) return MapValue(m, field(1), o);
  if (Name(d) == kListValue) {
    json arr = json::array();
    for (int k = 0; k < r->FieldSize(m, field(1)); ++k)
      arr.push_back(FieldValue(m, field(1), k, o));
    return arr;
  }
  if (Name(d) == kValue) {
    const gpb::OneofDescriptor* kind = d->oneof_decl(0);
    const FieldDescriptor* set = r->GetOneofFieldDescriptor(m, kind);
    return set == nullptr ? json(nullptr) : FieldValue(m, set, -1, o);
  }
  return FieldsToJson(m, o);
}

// ------------------------------------------------------------------------ output, direct

// Whether MessageValue gives messages of type `d` a form of their own (not their fields).
bool HasOwnForm(const gpb::Descriptor* d, const OutputOptions& o) {
  return (Name(d) == kTimestamp && o.timestamps_as_strings) ||
         (Name(d) == kDuration && o.durations_as_strings) || IsWrapper(d) || Name(d) == kStruct ||
         Name(d) == kListValue || Name(d) == kValue;
}

// Appends JSON text as RenderJson writes the same values.
class JsonText {
 protected:
  explicit JsonText(std::string* out) : out_(*out) {}

  template <typename Int>
  void Integer(Int v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<size_t>(end - buf));  // (pointer, size): the range form is slower
  }

  // FloatToJson's value as the serializer prints it.
  void Double(double v) {
    if (std::isnan(v)) {
      out_.append("\"NaN\"");
    } else if (std::isinf(v)) {
      out_.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
      char buf[64];
      const char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
      out_.append(buf, static_cast<size_t>(end - buf));
    }
  }

  void Bool(bool v) { out_.append(v ? "true" : "false"); }

  void Bytes(std::string_view s) {
    out_.push_back('"');
    absl::StrAppend(&out_, absl::Base64Escape(absl::string_view(s.data(), s.size())));
    out_.push_back('"');  // nothing in base64 needs escaping
  }

  // A string as it is when UTF-8, else with the serializer's replacement characters.
  void Text(std::string_view s) {
    if (encoding::IsValidUtf8(s)) return encoding::AppendJsonString(s, &out_);
    Leaf(json(std::string(s)));
  }

  // FieldValue's enum: null for NullValue, the value's name if `names` and it has one, else
  // the number.
  void Enum(const FieldDescriptor* f, int number, bool names) {
    if (f->enum_type()->full_name() == "google.protobuf.NullValue") {
      out_.append("null");
      return;
    }
    if (names) {
      if (const auto* v = f->enum_type()->FindValueByNumber(number)) return Text(v->name());
    }
    Integer(number);
  }

  // A tree value, through nlohmann's serializer (made on first use: it allocates).
  void Leaf(const json& v) {
    if (!serializer_) {
      serializer_.emplace(nlohmann::detail::output_adapter<char>(out_), ' ',
                          json::error_handler_t::replace);
    }
    serializer_->dump(v, false, false, 0);
  }

  std::string& out_;

 private:
  std::optional<nlohmann::detail::serializer<json>> serializer_;
};

// Writes what RenderJson(MessageValue(m)) writes, without the tree: members in the layout's
// order (the tree's), numbers and strings in its serializer's forms. What the layout does not
// hold (well-known types with a form of their own, types whose field names are shared or not
// UTF-8) and maps with a key given twice are written from the tree's own value for them.
class DirectWriter : JsonText {
 public:
  DirectWriter(const JsonLayout& layout, std::string* out)
      : JsonText(out), layout_(layout), o_(layout.options()) {}

  void Message(const gpb::Message& m) {
    const std::vector<JsonLayout::Member>* members = layout_.MembersOf(m.GetDescriptor());
    if (members == nullptr) return Leaf(MessageValue(m, o_));
    Fields(m, *members);
  }

 private:
  // FieldsToJson's members and budget, written in key order.
  void Fields(const gpb::Message& m, const std::vector<JsonLayout::Member>& members) {
    const gpb::Reflection* r = m.GetReflection();
    t_values_left -= m.GetDescriptor()->field_count();
    if (t_values_left < 0) return;  // the caller fails the whole reply
    out_.push_back('{');
    bool first = true;
    for (const JsonLayout::Member& member : members) {
      const FieldDescriptor* f = member.field;
      if (f->is_repeated()
              ? r->FieldSize(m, f) == 0 && o_.omit_unset
              : !r->HasField(m, f) && (o_.omit_unset || f->real_containing_oneof() != nullptr)) {
        continue;
      }
      if (!first) out_.push_back(',');
      first = false;
      out_.append(member.key);
      if (f->is_map()) {
        Map(m, f);
      } else if (f->is_repeated()) {
        const int n = r->FieldSize(m, f);
        t_values_left -= n;
        if (t_values_left < 0) return;
        out_.push_back('[');
        for (int k = 0; k < n; ++k) {
          if (k > 0) out_.push_back(',');
          Value(m, f, k);
        }
        out_.push_back(']');
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !r->HasField(m, f)) {
        out_.append("null");
      } else {
        Value(m, f, -1);
      }
      if (t_values_left < 0) return;
    }
    out_.push_back('}');
  }

  void Map(const gpb::Message& m, const FieldDescriptor* f) {
    const gpb::Reflection* r = m.GetReflection();
    const int n = r->FieldSize(m, f);
    t_values_left -= n;
    if (t_values_left < 0) return;
    const FieldDescriptor* key = f->message_type()->map_key();
    std::vector<std::pair<std::string, const gpb::Message*>> entries;
    entries.reserve(n);
    for (int k = 0; k < n; ++k) {
      const gpb::Message& entry = r->GetRepeatedMessage(m, f, k);
      entries.emplace_back(MapKey(entry, key), &entry);
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i - 1].first == entries[i].first) return Leaf(MapValue(m, f, o_));
    }
    const FieldDescriptor* value = f->message_type()->map_value();
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_.push_back(',');
      Text(entries[i].first);
      out_.push_back(':');
      Value(*entries[i].second, value, -1);
      if (t_values_left < 0) return;
    }
    out_.push_back('}');
  }

  // FieldValue's value, written.
  void Value(const gpb::Message& m, const FieldDescriptor* f, int index) {
    const gpb::Reflection* r = m.GetReflection();
    const bool rep = index >= 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return Integer(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      case FieldDescriptor::CPPTYPE_INT64:
        return Integer(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      case FieldDescriptor::CPPTYPE_UINT32:
        return Integer(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      case FieldDescriptor::CPPTYPE_UINT64:
        return Integer(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return Double(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      case FieldDescriptor::CPPTYPE_FLOAT:
        return Double(ShortestDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f)));
      case FieldDescriptor::CPPTYPE_BOOL:
        return Bool(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
      case FieldDescriptor::CPPTYPE_ENUM:
        return Enum(f, rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f),
                    o_.enums_as_strings);
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                   : r->GetStringReference(m, f, &scratch);
        return f->type() == FieldDescriptor::TYPE_BYTES ? Bytes(s) : Text(s);
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Message(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
    }
  }

  const JsonLayout& layout_;
  const OutputOptions& o_;
};

// ------------------------------------------------------------------------------------ input

const FieldDescriptor* FindField(const gpb::Descriptor* d, std::string_view name) {
  const std::string n(name);
  if (const FieldDescriptor* f = d->FindFieldByName(n)) return f;
  if (const FieldDescriptor* f = d->FindFieldByCamelcaseName(n)) return f;
  for (int i = 0; i < d->field_count(); ++i) {  // a custom json_name
    if (d->field(i)->json_name() == n) return d->field(i);
  }
  return nullptr;
}

// JSON text of a value for messages: invalid UTF-8 (from a percent-decoded URL) is replaced,
// never thrown about.
std::string Dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return absl::StrCat("the string ", Dump(v));
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    default:
      return absl::StrCat("the number ", Dump(v));
  }
}

absl::Status TypeError(const std::string& path, const char* expected, const json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat("field \"", path, "\": expected ", expected, ", got ", TypeName(got)));
}

// An integer from a JSON number or a numeric string, within [lo, hi].
template <typename Int>
bool ToInt(const json& v, Int* out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return false;
      *out = static_cast<Int>(u);
      return true;
    }
    const int64_t i = v.get<int64_t>();
    if (i < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
        (i > 0 &&
         static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<Int>::max()))) {
      return false;
    }
    *out = static_cast<Int>(i);
    return true;
  }
  if (v.is_number_float()) {
    // [min, 2^digits) exactly: max() itself rounds up to 2^digits as a double.
    const double d = v.get<double>();
    const double upper = std::ldexp(1.0, std::numeric_limits<Int>::digits);
    if (d != std::floor(d) || d < static_cast<double>(std::numeric_limits<Int>::min()) ||
        d >= upper) {
      return false;
    }
    *out = static_cast<Int>(d);
    return true;
  }
  if (v.is_string()) return absl::SimpleAtoi(v.get_ref<const std::string&>(), out);
  return false;
}

bool ToDouble(const json& v, double* out) {
  if (v.is_number()) {
    *out = v.get<double>();
    return true;
  }
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "NaN")
    *out = std::numeric_limits<double>::quiet_NaN();
  else if (s == "Infinity")
    *out = std::numeric_limits<double>::infinity();
  else if (s == "-Infinity")
    *out = -std::numeric_limits<double>::infinity();
  else
    return absl::SimpleAtod(s, out);
  return true;
}

// Deeper JSON than this is refused (protobuf's own parser stops at 100 too): a hostile body
// must not exhaust the stack through recursive types such as google.protobuf.Value.
constexpr int kMaxDepth = 100;

absl::Status FillMessage(const json& j, gpb::Message* m, const std::string& path, int depth);

// Sets (or, for repeated fields, adds) one scalar or message value.
absl::Status SetValue(const json& v, gpb::Message* m, const FieldDescriptor* f,
                      const std::string& path, int depth) {
  const gpb::Reflection* r = m->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t x;
      if (!ToInt(v, &x)) return TypeError(path, "a 32-bit integer", v);
      rep ? r->AddInt32(m, f, x) : r->SetInt32(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t x;
      if (!ToInt(v, &x)) return TypeError(path, "a 64-bit integer", v);
      rep ? r->AddInt64(m, f, x) : r->SetInt64(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t x;
      if (!ToInt(v, &x)) return TypeError(path, "an unsigned 32-bit integer", v);
      rep ? r->AddUInt32(m, f, x) : r->SetUInt32(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t x;
      if (!ToInt(v, &x)) return TypeError(path, "an unsigned 64-bit integer", v);
      rep ? r->AddUInt64(m, f, x) : r->SetUInt64(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double x;
      if (!ToDouble(v, &x)) return TypeError(path, "a number", v);
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT && std::isfinite(x) &&
          std::fabs(x) > std::numeric_limits<float>::max()) {
        return TypeError(path, "a 32-bit float", v);
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        rep ? r->AddDouble(m, f, x) : r->SetDouble(m, f, x);
      } else {
        rep ? r->AddFloat(m, f, static_cast<float>(x)) : r->SetFloat(m, f, static_cast<float>(x));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool x;
      if (v.is_boolean())
        x = v.get<bool>();
      else if (v == "true")
        x = true;
      else if (v == "false")
        x = false;
      else
        return TypeError(path, "true or false", v);
      rep ? r->AddBool(m, f, x) : r->SetBool(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number;
      if (v.is_string()) {
        const auto* ev = f->enum_type()->FindValueByName(v.get_ref<const std::string&>());
        if (ev != nullptr)
          number = ev->number();
        else if (!absl::SimpleAtoi(v.get_ref<const std::string&>(), &number)) {
          return absl::InvalidArgumentError(absl::StrCat("field \"", path, "\": ", Dump(v),
                                                         " is not a value of ",
                                                         f->enum_type()->full_name()));
        }
      } else if (!ToInt(v, &number)) {
        return TypeError(path, "an enum name or number", v);
      }
      rep ? r->AddEnumValue(m, f, number) : r->SetEnumValue(m, f, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      if (!v.is_string()) return TypeError(path, "a string", v);
      std::string x = v.get<std::string>();
      if (f->type() == FieldDescriptor::TYPE_STRING && !encoding::IsValidUtf8(x)) {
        return absl::InvalidArgumentError(absl::StrCat("field \"", path, "\": not valid UTF-8"));
      }
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        std::string raw;
        if (!absl::Base64Unescape(x, &raw) && !absl::WebSafeBase64Unescape(x, &raw)) {
          return TypeError(path, "base64 bytes", v);
        }
        x = std::move(raw);
      }
      rep ? r->AddString(m, f, std::move(x)) : r->SetString(m, f, std::move(x));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return FillMessage(v, rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), path, depth + 1);
  }
  return absl::OkStatus();
}

absl::Status FillSecondsNanos(const json& j, gpb::Message* m, const std::string& path) {
  const gpb::Descriptor* d = m->GetDescriptor();
  const gpb::Reflection* r = m->GetReflection();
  int64_t seconds = 0;
  int32_t nanos = 0;
  if (Name(d) == kTimestamp) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, j.get<std::string>(), &t, &err)) {
      return TypeError(path, "an RFC 3339 timestamp", j);
    }
    if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
      return TypeError(path, "an RFC 3339 timestamp", j);
    }
    seconds = absl::ToUnixSeconds(t);
    nanos = static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1));
    if (!ValidTimestamp(seconds, nanos)) {
      return TypeError(path, "a timestamp between years 1 and 9999", j);
    }
  } else {
    std::string s = j.get<std::string>();
    absl::Duration dur;
    if (s.empty() || s.back() != 's' || !absl::ParseDuration(s, &dur)) {
      return TypeError(path, "a duration such as \"1.5s\"", j);
    }
    seconds = absl::IDivDuration(dur, absl::Seconds(1), &dur);
    nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(dur));
    if (!ValidDuration(seconds, nanos)) return TypeError(path, "a duration within 10000 years", j);
  }
  r->SetInt64(m, d->FindFieldByNumber(1), seconds);
  r->SetInt32(m, d->FindFieldByNumber(2), nanos);
  return absl::OkStatus();
}

absl::Status FillMessage(const json& j, gpb::Message* m, const std::string& path, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", path, "\": nested deeper than ", kMaxDepth, " levels"));
  }
  const gpb::Descriptor* d = m->GetDescriptor();
  const gpb::Reflection* r = m->GetReflection();
  if ((Name(d) == kTimestamp || Name(d) == kDuration) && j.is_string()) {
    return FillSecondsNanos(j, m, path);
  }
  if (IsWrapper(d) && !j.is_object()) return SetValue(j, m, d->FindFieldByNumber(1), path, depth);
  if (Name(d) == kValue) {
    auto set = [&](int number, const json& v) {
      return SetValue(v, m, d->FindFieldByNumber(number), path, depth);
    };
    switch (j.type()) {
      case json::value_t::null:
        return set(1, 0);
      case json::value_t::boolean:
        return set(4, j);
      case json::value_t::string:
        return set(3, j);
      case json::value_t::object:
        return set(5, j);
      case json::value_t::array:
        return set(6, j);
      default:
        return set(2, j);
    }
  }
  if (Name(d) == kListValue) {
    if (!j.is_array()) return TypeError(path, "an array", j);
    for (const json& item : j) {
      if (absl::Status s = SetValue(item, m, d->FindFieldByNumber(1), path, depth); !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  if (!j.is_object()) return TypeError(path, "an object", j);
  for (const auto& [key, value] : j.items()) {
    const std::string sub = path.empty() ? key : absl::StrCat(path, ".", key);
    const FieldDescriptor* f = Name(d) == kStruct ? d->FindFieldByNumber(1) : FindField(d, key);
    if (f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", sub, "\": unknown field of ", d->full_name()));
    }
    // null leaves a field unset, except where null is a value (google.protobuf.Value).
    if (value.is_null() && Name(f->containing_type()) != kStruct &&
        !(f->message_type() != nullptr && Name(f->message_type()) == kValue)) {
      continue;
    }
    if (f->is_map()) {
      const json& entries = Name(d) == kStruct ? json{{key, value}} : value;
      if (!entries.is_object()) return TypeError(sub, "an object", value);
      const FieldDescriptor* kf = f->message_type()->map_key();
      const FieldDescriptor* vf = f->message_type()->map_value();
      for (const auto& [k, v] : entries.items()) {
        gpb::Message* entry = r->AddMessage(m, f);
        const std::string entry_path = Name(d) == kStruct ? sub : absl::StrCat(sub, ".", k);
        if (absl::Status s = SetValue(json(k), entry, kf, entry_path, depth); !s.ok()) return s;
        if (absl::Status s = SetValue(v, entry, vf, entry_path, depth + 1); !s.ok()) return s;
      }
    } else if (f->is_repeated()) {
      if (!value.is_array()) {
        if (absl::Status s = SetValue(value, m, f, sub, depth); !s.ok()) return s;
        continue;
      }
      for (const json& item : value) {
        if (absl::Status s = SetValue(item, m, f, sub, depth); !s.ok()) return s;
      }
    } else if (absl::Status s = SetValue(value, m, f, sub, depth); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

using WireField = JsonLayout::WireField;

// What protobuf's parser reads for a field from one field record: its wire type and bytes.
struct Record {
  const WireField* w;
  int wire_type;
  uint64_t number;        // varint and fixed wire types
  std::string_view data;  // length-delimited
};

// The wire type a non-packed value of `f` has.
int WireTypeOf(const FieldDescriptor* f) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
      return 1;
    case FieldDescriptor::TYPE_FLOAT:
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
      return 5;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
    case FieldDescriptor::TYPE_MESSAGE:
      return 2;
    case FieldDescriptor::TYPE_GROUP:
      return 3;
    default:
      return 0;
  }
}

// Reads protobuf's wire format as far as it is unambiguous. Every reader returns false where
// protobuf's parser might read the bytes differently (or fail): the caller then parses.
class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ == in_.size(); }

  // A varint of at most `max_bytes` bytes (10: any) whose value fits 64 bits.
  bool Varint(uint64_t* v, int max_bytes = 10) {
    if (pos_ < in_.size() && static_cast<uint8_t>(in_[pos_]) < 0x80) {  // one byte: most tags
      *v = static_cast<uint8_t>(in_[pos_++]);
      return true;
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
      if (pos_ == in_.size()) return false;
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && byte > 1) return false;
      value |= uint64_t{byte & 0x7Fu} << shift;
      if (byte < 0x80) {
        *v = value;
        return true;
      }
    }
    return false;
  }

  bool Fixed(int bytes, uint64_t* v) {
    if (in_.size() - pos_ < static_cast<size_t>(bytes)) return false;
    uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += bytes;
    *v = value;
    return true;
  }

  bool Bytes(std::string_view* data) {
    uint64_t size = 0;
    // Sizes and tags are read as 32-bit varints, at most 5 bytes.
    if (!Varint(&size, 5) || size > in_.size() - pos_ || size > INT32_MAX) return false;
    *data = in_.substr(pos_, size);
    pos_ += size;
    return true;
  }

  // The next record's field number and wire type, and its value.
  bool Next(uint32_t* number, Record* r) {
    uint64_t tag = 0;
    if (!Varint(&tag, 5) || tag > UINT32_MAX) return false;
    *number = static_cast<uint32_t>(tag >> 3);
    r->wire_type = static_cast<int>(tag & 7);
    if (*number == 0) return false;
    switch (r->wire_type) {
      case 0:
        return Varint(&r->number);
      case 1:
        return Fixed(8, &r->number);
      case 2:
        return Bytes(&r->data);
      case 5:
        return Fixed(4, &r->number);
      default:  // groups, invalid wire types
        return false;
    }
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// A reply's wire bytes written as DirectWriter writes the message protobuf parses from them,
// without parsing it: each message's records read into a list, then written in the layout's
// member order. Whatever protobuf's parser might read differently is declined (Render returns
// false): a singular field or a oneof given twice, a field with another wire type than its
// own, groups, a string that is not UTF-8, a closed enum's unknown value, nesting past 64
// levels, a well-known type with a form of its own; so is a reply over the value budget, whose
// error the parser's path reports in its order.
class WireWriter : JsonText {
 public:
  WireWriter(const JsonLayout& layout, std::string* out)
      : JsonText(out), layout_(layout), o_(layout.options()) {}

  bool Render(const gpb::Descriptor* d, std::string_view bytes) {
    return Message(layout_.TypeOf(d), d, bytes, 0) && t_values_left >= 0;
  }

 private:
  using Member = JsonLayout::Member;
  using Type = JsonLayout::Type;
  static constexpr int kMaxNesting = 64;  // protobuf's parser allows 100

  // Groups records by field in declaration order, keeping the wire order within a field.
  // Writers emit fields in number order, so records come nearly sorted: an insertion sort
  // takes them in one pass, where std::stable_sort allocates a buffer every time. Long lists
  // (interleaved repeated fields could make insertion quadratic) take std::stable_sort.
  template <typename Records>
  static void SortByField(Records& records) {
    constexpr size_t kInsertionSortMax = 64;
    auto before = [](const Record& a, const Record& b) { return a.w->index < b.w->index; };
    if (records.size() > kInsertionSortMax) {
      std::stable_sort(records.begin(), records.end(), before);
      return;
    }
    for (size_t i = 1; i < records.size(); ++i) {
      if (!before(records[i], records[i - 1])) continue;
      const Record r = records[i];
      size_t j = i;
      for (; j > 0 && before(r, records[j - 1]); --j) records[j] = records[j - 1];
      records[j] = r;
    }
  }

  // A message of type `d` (`t`: its Type, null when the layout does not hold it).
  bool Message(const Type* t, const gpb::Descriptor* d, std::string_view bytes, int depth) {
    if (depth > kMaxNesting) return false;
    // Not held: a well-known type with a form of its own, or a type whose names are shared or
    // not UTF-8 (declined: OwnForm has no prototype for it).
    if (t == nullptr || !t->held) return OwnForm(d, bytes, depth);
    const size_t fields = t->fields.size();
    t_values_left -= static_cast<int64_t>(fields);
    if (t_values_left < 0) return false;
    // The records, grouped by field (wire order kept within a field); first[i] is where field
    // i's records start, first[i + 1] where they end.
    absl::InlinedVector<Record, 16> records;
    absl::InlinedVector<uint32_t, 32> first(fields + 1, 0);
    WireReader reader(bytes);
    while (!reader.done()) {
      uint32_t number = 0;
      Record r{};
      if (!reader.Next(&number, &r)) return false;
      r.w = t->FieldOf(number);
      if (r.w == nullptr) {
        // An extension the pool may know: the parser reads (and checks) it.
        if (d->IsExtensionNumber(static_cast<int>(number))) return false;
        continue;  // an unknown field: kept by the parser, never printed
      }
      if (r.wire_type != r.w->wire_type && !(r.wire_type == 2 && r.w->packable)) return false;
      ++first[r.w->index + 1];
      records.push_back(r);
    }
    SortByField(records);
    for (size_t i = 0; i < fields; ++i) {
      const uint32_t count = first[i + 1];
      // A singular field given twice: protobuf merges (messages) or keeps the last.
      if (count > 1 && !t->fields[i].repeated) return false;
      first[i + 1] += first[i];
    }
    // Two members of one oneof: the last one set wins.
    if (t->oneofs > 0) {
      absl::InlinedVector<bool, 8> seen(t->oneofs, false);
      for (size_t i = 0; i < fields; ++i) {
        const int oneof = t->fields[i].oneof;
        if (oneof < 0 || first[i + 1] == first[i]) continue;
        if (seen[oneof]) return false;
        seen[oneof] = true;
      }
    }

    out_.push_back('{');
    bool first_member = true;
    for (const Member& member : t->members) {
      const WireField& w = t->fields[member.index];
      const Record* begin = records.data() + first[member.index];
      const size_t count = first[member.index + 1] - first[member.index];
      if (count == 0 && w.required) return false;  // the parser fails
      // FieldSize of a repeated field: packed records hold any number of elements, even none.
      int64_t elements = static_cast<int64_t>(count);
      if (w.repeated && !w.map && !Elements(w, begin, count, &elements)) return false;
      if (w.repeated) {
        if (elements == 0 && o_.omit_unset) continue;
      } else if (count == 0) {
        if (o_.omit_unset || w.oneof >= 0) continue;
      } else if (!w.presence && o_.omit_unset) {
        bool present = false;
        if (!ImplicitPresence(begin[0], &present)) return false;
        if (!present) continue;
      }
      if (!first_member) out_.push_back(',');
      out_.append(member.key);
      bool ok = true;
      if (w.map) {
        ok = Map(w, begin, count, depth);
      } else if (w.repeated) {
        ok = Repeated(w, begin, count, elements, depth);
      } else if (count == 0) {
        Default(w);
      } else {
        ok = Value(w, begin[0], depth);
      }
      if (!ok || t_values_left < 0) return false;
      first_member = false;
    }
    out_.push_back('}');
    return true;
  }

  // A well-known type with a form of its own (rare, and small): parsed on its own and written
  // from its tree value. Parsed on its own it gets the parser's whole nesting allowance (100
  // levels), which the reply's parse would have spent partly above it: it is kept only if it
  // nests no deeper than this writer allows, and holds no unknown fields (groups among them
  // nest as well).
  bool OwnForm(const gpb::Descriptor* d, std::string_view bytes, int depth) {
    const gpb::Message* prototype = layout_.PrototypeOf(d);
    if (prototype == nullptr || bytes.size() > INT32_MAX) return false;
    gpb::Arena arena;
    gpb::Message* m = prototype->New(&arena);
    if (!m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        !Shallow(*m, kMaxNesting - depth)) {
      return false;
    }
    Leaf(MessageValue(*m, o_));
    return true;
  }

  // Whether `m` nests at most `levels` more messages and has no unknown fields.
  static bool Shallow(const gpb::Message& m, int levels) {
    if (levels < 0) return false;
    const gpb::Reflection* r = m.GetReflection();
    if (!r->GetUnknownFields(m).empty()) return false;
    std::vector<const FieldDescriptor*> fields;
    r->ListFields(m, &fields);
    for (const FieldDescriptor* f : fields) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!Shallow(r->GetRepeatedMessage(m, f, i), levels - 1)) return false;
        }
      } else if (!Shallow(r->GetMessage(m, f), levels - 1)) {
        return false;
      }
    }
    return true;
  }

  // HasField of a proto3 field without presence: its value is not the default. Zero floats
  // are left to the parser (whether -0.0 counts is its reflection's business).
  static bool ImplicitPresence(const Record& r, bool* present) {
    const FieldDescriptor::CppType cpp_type = r.w->cpp_type;
    if (cpp_type == FieldDescriptor::CPPTYPE_DOUBLE || cpp_type == FieldDescriptor::CPPTYPE_FLOAT) {
      const uint64_t magnitude =
          cpp_type == FieldDescriptor::CPPTYPE_DOUBLE ? r.number << 1 : (r.number << 33);
      if (magnitude == 0) return false;  // 0.0 or -0.0
      *present = true;
      return true;
    }
    if (r.wire_type == 2) {
      *present = !r.data.empty();
      return true;
    }
    // Integers, enums and bools as stored: the truncation the parser applies decides.
    switch (cpp_type) {
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_ENUM:
        *present = static_cast<uint32_t>(r.number) != 0;
        return true;
      default:
        *present = r.number != 0;
        return true;
    }
  }

  // The elements of a repeated field's records (FieldSize): packed records hold any number.
  static bool Elements(const WireField& w, const Record* records, size_t count, int64_t* n) {
    *n = 0;
    for (size_t i = 0; i < count; ++i) {
      if (records[i].wire_type == 2 && w.packable) {
        const int64_t in_record = PackedCount(w, records[i].data);
        if (in_record < 0) return false;
        *n += in_record;
      } else {
        ++*n;
      }
    }
    return true;
  }

  // `n` elements (Elements) in `count` records; the budget is spent before they are written.
  bool Repeated(const WireField& w, const Record* records, size_t count, int64_t n, int depth) {
    t_values_left -= n;
    if (t_values_left < 0) return false;
    out_.push_back('[');
    bool first = true;
    for (size_t i = 0; i < count; ++i) {
      if (records[i].wire_type == 2 && w.packable) {
        WireReader packed(records[i].data);
        while (!packed.done()) {
          Record element{&w, w.wire_type, 0, {}};
          const bool read = element.wire_type == 0   ? packed.Varint(&element.number)
                            : element.wire_type == 1 ? packed.Fixed(8, &element.number)
                                                     : packed.Fixed(4, &element.number);
          if (!read) return false;
          if (!first) out_.push_back(',');
          first = false;
          if (!Value(w, element, depth)) return false;
        }
      } else {
        if (!first) out_.push_back(',');
        first = false;
        if (!Value(w, records[i], depth)) return false;
      }
    }
    out_.push_back(']');
    return true;
  }

  // The elements in a packed record; -1 when it is not a whole number of them.
  static int64_t PackedCount(const WireField& w, std::string_view data) {
    switch (w.wire_type) {
      case 1:
        return data.size() % 8 == 0 ? static_cast<int64_t>(data.size() / 8) : -1;
      case 5:
        return data.size() % 4 == 0 ? static_cast<int64_t>(data.size() / 4) : -1;
      default: {
        if (!data.empty() && static_cast<uint8_t>(data.back()) >= 0x80) return -1;
        int64_t n = 0;
        for (char c : data) n += static_cast<uint8_t>(c) < 0x80;
        return n;
      }
    }
  }

  bool Map(const WireField& w, const Record* records, size_t count, int depth) {
    const Type* entry_type = w.message;  // the layout holds every map entry type
    const WireField* key_field = entry_type->FieldOf(1);
    const WireField* value_field = entry_type->FieldOf(2);
    struct Entry {
      std::string key;
      Record value;
      bool has_value;
    };
    absl::InlinedVector<Entry, 4> entries;
    entries.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      Record key{key_field, key_field->wire_type, 0, {}};
      Record value{value_field, value_field->wire_type, 0, {}};
      bool has_key = false, has_value = false;
      WireReader reader(records[i].data);
      while (!reader.done()) {
        uint32_t number = 0;
        Record r{};
        if (!reader.Next(&number, &r)) return false;
        Record& slot = number == 1 ? key : value;
        bool& seen = number == 1 ? has_key : has_value;
        if ((number != 1 && number != 2) || seen || r.wire_type != slot.wire_type) return false;
        seen = true;
        slot.number = r.number;
        slot.data = r.data;
      }
      Entry e{{}, value, has_value};
      if (!MapKey(key, has_key, &e.key)) return false;
      entries.push_back(std::move(e));
    }
    // The tree lists keys sorted. A key given twice is declined: the parser keeps every entry
    // (each checked, each counted) in its reflection's view of the map.
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.key < b.key; });
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i - 1].key == entries[i].key) return false;
    }
    t_values_left -= static_cast<int64_t>(entries.size());
    if (t_values_left < 0) return false;
    out_.push_back('{');
    bool first = true;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!first) out_.push_back(',');
      first = false;
      encoding::AppendJsonString(entries[i].key, &out_);  // UTF-8: checked by MapKey
      out_.push_back(':');
      // The entry is a message: its value nests one level deeper than the entry.
      const bool ok = entries[i].has_value ? Value(*value_field, entries[i].value, depth + 1)
                                           : AbsentValue(*value_field, depth + 1);
      if (!ok || t_values_left < 0) return false;
    }
    out_.push_back('}');
    return true;
  }

  // The key's text as the tree's MapKey gives it.
  bool MapKey(const Record& key, bool has_key, std::string* text) {
    const WireField& w = *key.w;
    if (w.cpp_type == FieldDescriptor::CPPTYPE_STRING) {
      if (has_key && !encoding::IsValidUtf8(key.data)) return false;
      text->assign(has_key ? key.data : std::string_view());
      return true;
    }
    // Numbers and bools: their JSON text, written here and taken back.
    const size_t mark = out_.size();
    bool ok = true;
    if (has_key) {
      ok = Scalar(w, key);
    } else {
      Default(w);
    }
    text->assign(out_, mark, std::string::npos);
    out_.resize(mark);
    return ok;
  }

  bool Value(const WireField& w, const Record& r, int depth) {
    if (w.cpp_type == FieldDescriptor::CPPTYPE_MESSAGE) {
      return Message(w.message, w.message_type, r.data, depth + 1);
    }
    return Scalar(w, r);
  }

  // A scalar as FieldValue gives it, from its wire value; false where the parser would fail
  // (a string that is not UTF-8) or keep it among the unknown fields (a closed enum's unknown
  // number: a field of a proto2 file treats its enum as closed, whatever the enum's own file).
  bool Scalar(const WireField& w, const Record& r) {
    const uint64_t v = r.number;
    switch (w.type) {
      case FieldDescriptor::TYPE_STRING:
        if (!encoding::IsValidUtf8(r.data)) return false;
        encoding::AppendJsonString(r.data, &out_);
        return true;
      case FieldDescriptor::TYPE_BYTES:
        Bytes(r.data);
        return true;
      case FieldDescriptor::TYPE_ENUM: {
        const auto number = static_cast<int32_t>(static_cast<uint32_t>(v));
        if (w.closed_enum && w.field->enum_type()->FindValueByNumber(number) == nullptr) {
          return false;
        }
        Enum(w.field, number, o_.enums_as_strings);
        return true;
      }
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return false;
      default:
        Number(w.type, v);
        return true;
    }
  }

  // A number or bool of `type` from its varint or fixed wire value.
  void Number(FieldDescriptor::Type type, uint64_t v) {
    switch (type) {
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SFIXED32:
        return Integer(static_cast<int32_t>(static_cast<uint32_t>(v)));
      case FieldDescriptor::TYPE_SINT32: {
        const auto u = static_cast<uint32_t>(v);
        return Integer(static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1)));
      }
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        return Integer(static_cast<uint32_t>(v));
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SFIXED64:
        return Integer(static_cast<int64_t>(v));
      case FieldDescriptor::TYPE_SINT64:
        return Integer(static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)));
      case FieldDescriptor::TYPE_BOOL:
        return Bool(v != 0);
      case FieldDescriptor::TYPE_DOUBLE: {
        double d = 0;
        std::memcpy(&d, &v, sizeof d);
        return Double(d);
      }
      case FieldDescriptor::TYPE_FLOAT: {
        float x = 0;
        const auto bits = static_cast<uint32_t>(v);
        std::memcpy(&x, &bits, sizeof x);
        return Double(ShortestDouble(x));
      }
      default:  // TYPE_UINT64, TYPE_FIXED64
        return Integer(v);
    }
  }

  // An absent singular field as the tree prints it: a message null, a scalar its default.
  void Default(const WireField& w) {
    const FieldDescriptor* f = w.field;
    switch (w.cpp_type) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        out_.append("null");
        return;
      case FieldDescriptor::CPPTYPE_INT32:
        return Integer(f->default_value_int32());
      case FieldDescriptor::CPPTYPE_INT64:
        return Integer(f->default_value_int64());
      case FieldDescriptor::CPPTYPE_UINT32:
        return Integer(f->default_value_uint32());
      case FieldDescriptor::CPPTYPE_UINT64:
        return Integer(f->default_value_uint64());
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return Double(f->default_value_double());
      case FieldDescriptor::CPPTYPE_FLOAT:
        return Double(ShortestDouble(f->default_value_float()));
      case FieldDescriptor::CPPTYPE_BOOL:
        return Bool(f->default_value_bool());
      case FieldDescriptor::CPPTYPE_ENUM:
        return Enum(f, f->default_value_enum()->number(), o_.enums_as_strings);
      case FieldDescriptor::CPPTYPE_STRING: {
        const std::string& s = f->default_value_string();
        return w.type == FieldDescriptor::TYPE_BYTES ? Bytes(s) : Text(s);
      }
    }
  }

  // A map entry without its value: the value type's default; a message's is its empty form.
  bool AbsentValue(const WireField& w, int depth) {
    if (w.cpp_type == FieldDescriptor::CPPTYPE_MESSAGE) {
      return Message(w.message, w.message_type, std::string_view(), depth + 1);
    }
    Default(w);
    return true;
  }

  const JsonLayout& layout_;
  const OutputOptions& o_;
};

}  // namespace

absl::StatusOr<json> MessageToJson(const gpb::Message& message, const OutputOptions& options,
                                   int64_t max_values) {
  t_values_left = max_values;
  json out = MessageValue(message, options);
  if (t_values_left < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the reply would render more than ", max_values, " JSON values"));
  }
  return out;
}

std::unique_ptr<const JsonLayout> JsonLayout::Create(const gpb::Descriptor* type,
                                                     const OutputOptions& options,
                                                     gpb::MessageFactory* factory) {
  if (HasOwnForm(type, options)) return nullptr;
  auto layout = std::unique_ptr<JsonLayout>(new JsonLayout());
  layout->options_ = options;
  layout->type_ = type;
  layout->Add(type, factory);
  // Every reachable type is in: point each message field at its type's entry.
  for (auto& [d, t] : layout->types_) {
    for (WireField& w : t->fields) {
      if (w.message_type == nullptr) continue;
      auto it = layout->types_.find(w.message_type);
      if (it != layout->types_.end()) w.message = it->second.get();
    }
  }
  return layout;
}

void JsonLayout::Add(const gpb::Descriptor* d, gpb::MessageFactory* factory) {
  // Well-known types with a form of their own are written from their tree value: RenderWireJson
  // parses them with their prototype.
  if (HasOwnForm(d, options_)) {
    if (factory != nullptr) prototypes_.emplace(d, factory->GetPrototype(d));
    return;
  }
  auto [it, added] = types_.try_emplace(d);
  if (!added) return;
  it->second = std::make_unique<Type>();
  Type& t = *it->second;
  t.descriptor = d;
  t.oneofs = d->real_oneof_decl_count();
  t.fields.reserve(d->field_count());
  int max_number = 0;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    WireField w;
    w.field = f;
    w.message_type = f->message_type();
    w.type = f->type();
    w.cpp_type = f->cpp_type();
    w.wire_type = WireTypeOf(f);
    w.index = i;
    if (const gpb::OneofDescriptor* oneof = f->real_containing_oneof()) w.oneof = oneof->index();
    w.repeated = f->is_repeated();
    w.packable = f->is_packable();
    w.map = f->is_map();
    w.required = f->is_required();
    w.presence = f->has_presence();
    w.closed_enum = w.type == FieldDescriptor::TYPE_ENUM &&
                    f->file()->syntax() != gpb::FileDescriptor::SYNTAX_PROTO3;
    max_number = std::max(max_number, f->number());
    t.fields.push_back(w);
  }
  // Numbers past the table (rare: most types number their fields from 1) are looked up.
  constexpr int kMaxTableNumber = 1024;
  t.by_number.assign(std::min(max_number, kMaxTableNumber) + 1, -1);
  for (const WireField& w : t.fields) {
    if (w.field->number() <= kMaxTableNumber) t.by_number[w.field->number()] = w.index;
  }

  // Map entries are written by their map, never as objects.
  if (d->map_key() == nullptr) {
    std::vector<Member> members;
    members.reserve(d->field_count());
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      members.push_back({options_.camel_case ? f->json_name() : f->name(), f, {}, i});
    }
    std::sort(members.begin(), members.end(),
              [](const Member& a, const Member& b) { return a.name < b.name; });
    // A hand-made descriptor could give two fields one JSON name (proto2) or name one anything:
    // such a type is not held, and the writers take the tree's way for it.
    const bool shared =
        std::adjacent_find(members.begin(), members.end(), [](const Member& a, const Member& b) {
          return a.name == b.name;
        }) != members.end();
    if (!shared && std::all_of(members.begin(), members.end(),
                               [](const Member& m) { return encoding::IsValidUtf8(m.name); })) {
      for (Member& m : members) {
        encoding::AppendJsonString(m.name, &m.key);
        m.key.push_back(':');
      }
      t.members = std::move(members);
      t.held = true;
    }
  }
  for (const WireField& w : t.fields) {
    if (w.message_type != nullptr) Add(w.message_type, factory);
  }
}

const JsonLayout::WireField* JsonLayout::Type::FieldOf(uint32_t number) const {
  if (number < by_number.size()) {
    const int index = by_number[number];
    return index < 0 ? nullptr : &fields[index];
  }
  if (number > static_cast<uint32_t>(FieldDescriptor::kMaxNumber)) return nullptr;
  const FieldDescriptor* f = descriptor->FindFieldByNumber(static_cast<int>(number));
  return f == nullptr ? nullptr : &fields[f->index()];
}

const gpb::Message* JsonLayout::PrototypeOf(const gpb::Descriptor* d) const {
  auto it = prototypes_.find(d);
  return it == prototypes_.end() ? nullptr : it->second;
}

const JsonLayout::Type* JsonLayout::TypeOf(const gpb::Descriptor* d) const {
  auto it = types_.find(d);
  return it == types_.end() || !it->second->held ? nullptr : it->second.get();
}

const std::vector<JsonLayout::Member>* JsonLayout::MembersOf(const gpb::Descriptor* d) const {
  const Type* t = TypeOf(d);
  return t == nullptr ? nullptr : &t->members;
}

absl::Status RenderMessageJson(const gpb::Message& message, const JsonLayout& layout,
                               std::string* out, int64_t max_values) {
  t_values_left = max_values;
  DirectWriter(layout, out).Message(message);
  if (t_values_left < 0) {
    out->clear();
    return absl::ResourceExhaustedError(
        absl::StrCat("the reply would render more than ", max_values, " JSON values"));
  }
  return absl::OkStatus();
}

bool RenderWireJson(std::string_view bytes, const JsonLayout& layout, std::string* out,
                    int64_t max_values) {
  t_values_left = max_values;
  const size_t start = out->size();
  if (WireWriter(layout, out).Render(layout.type(), bytes)) return true;
  out->resize(start);
  return false;
}

absl::Status JsonToMessage(const json& j, gpb::Message* message) {
  return FillMessage(j, message, "", 0);
}

std::vector<const FieldDescriptor*> ResolvePath(const gpb::Descriptor* type,
                                                std::string_view dotted) {
  std::vector<const FieldDescriptor*> fields;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(dotted.data(), dotted.size()), '.')) {
    if (type == nullptr) return {};
    const FieldDescriptor* f = FindField(type, std::string_view(part.data(), part.size()));
    if (f == nullptr) return {};
    fields.push_back(f);
    type = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()
               ? f->message_type()
               : nullptr;
  }
  return fields;
}

}  // namespace sluice::backend::grpc
