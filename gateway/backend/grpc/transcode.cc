#include "gateway/backend/grpc/transcode.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
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
  return d->file()->name() == "google/protobuf/wrappers.proto" &&
         n.size() > 5 && n.compare(n.size() - 5, 5, "Value") == 0;
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
    while (frac.size() > 3 && frac.compare(frac.size() - 3, 3, "000") == 0) frac.resize(frac.size() - 3);
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
      return FloatToJson(ShortestDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f)));
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
      json obj = json::object();
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      for (int k = 0; k < n; ++k) {
        const gpb::Message& entry = r->GetRepeatedMessage(m, f, k);
        obj[MapKey(entry, key)] = FieldValue(entry, value, -1, o);
      }
      out[name] = std::move(obj);
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
    if (Name(d) == kDuration && ValidDuration(seconds, nanos)) return FormatDuration(seconds, nanos);
  }
  if (IsWrapper(d)) return FieldValue(m, field(1), -1, o);
  if (Name(d) == kStruct) {
    json obj = json::object();
    const FieldDescriptor* fields = field(1);
    for (int k = 0; k < r->FieldSize(m, fields); ++k) {
      const gpb::Message& entry = r->GetRepeatedMessage(m, fields, k);
      const gpb::Descriptor* ed = entry.GetDescriptor();
      obj[MapKey(entry, ed->map_key())] = FieldValue(entry, ed->map_value(), -1, o);
    }
    return obj;
  }
  if (Name(d) == kListValue) {
    json arr = json::array();
    for (int k = 0; k < r->FieldSize(m, field(1)); ++k) arr.push_back(FieldValue(m, field(1), k, o));
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
         (Name(d) == kDuration && o.durations_as_strings) || IsWrapper(d) ||
         Name(d) == kStruct || Name(d) == kListValue || Name(d) == kValue;
}

// Writes what RenderJson(MessageValue(m)) writes, without the tree: members in the tree's key
// order (bytewise; of fields sharing a JSON name, or map entries sharing a key, the last, as
// the tree's assignments leave it), numbers and strings in its serializer's forms. Well-known
// types with a form of their own, and strings that are not UTF-8, are rare in replies: they
// are written from the tree's own value for them.
class DirectWriter {
 public:
  DirectWriter(const JsonLayout& layout, std::string* out)
      : layout_(layout), o_(layout.options()), out_(*out) {}

  void Message(const gpb::Message& m) {
    if (HasOwnForm(m.GetDescriptor(), o_)) return Leaf(MessageValue(m, o_));
    Fields(m);
  }

 private:
  using Member = JsonLayout::Member;

  // FieldsToJson's members and budget, written in key order.
  void Fields(const gpb::Message& m) {
    const gpb::Descriptor* d = m.GetDescriptor();
    const gpb::Reflection* r = m.GetReflection();
    t_values_left -= d->field_count();
    if (t_values_left < 0) return;  // the caller fails the whole reply
    const std::vector<Member>* order = layout_.MembersOf(d);
    std::vector<Member> own;  // a type the layout does not hold (a name that is not UTF-8)
    if (order == nullptr) order = &(own = JsonLayout::SortedMembers(d, o_));
    absl::InlinedVector<const Member*, 16> members;
    for (const Member& member : *order) {
      const FieldDescriptor* f = member.field;
      if (f->is_repeated() ? r->FieldSize(m, f) == 0 && o_.omit_unset
                           : !r->HasField(m, f) &&
                                 (o_.omit_unset || f->real_containing_oneof() != nullptr)) {
        continue;
      }
      members.push_back(&member);
    }
    out_.push_back('{');
    bool first = true;
    for (size_t i = 0; i < members.size(); ++i) {
      // A member the next one replaces is still rendered (then dropped): the tree spends its
      // values on it too.
      const size_t mark = out_.size();
      const bool replaced = i + 1 < members.size() && members[i + 1]->name == members[i]->name;
      if (!first) out_.push_back(',');
      if (own.empty()) {
        encoding::AppendJsonString(members[i]->name, &out_);  // checked UTF-8 (JsonLayout)
      } else {
        String(members[i]->name);
      }
      out_.push_back(':');
      const FieldDescriptor* f = members[i]->field;
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
      if (replaced) {
        out_.resize(mark);
      } else {
        first = false;
      }
    }
    out_.push_back('}');
  }

  void Map(const gpb::Message& m, const FieldDescriptor* f) {
    const gpb::Reflection* r = m.GetReflection();
    const int n = r->FieldSize(m, f);
    t_values_left -= n;
    if (t_values_left < 0) return;
    const FieldDescriptor* key = f->message_type()->map_key();
    const FieldDescriptor* value = f->message_type()->map_value();
    std::vector<std::pair<std::string, const gpb::Message*>> entries;
    entries.reserve(n);
    for (int k = 0; k < n; ++k) {
      const gpb::Message& entry = r->GetRepeatedMessage(m, f, k);
      entries.emplace_back(MapKey(entry, key), &entry);
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    out_.push_back('{');
    bool first = true;
    for (size_t i = 0; i < entries.size(); ++i) {
      const size_t mark = out_.size();
      const bool replaced = i + 1 < entries.size() && entries[i + 1].first == entries[i].first;
      if (!first) out_.push_back(',');
      String(entries[i].first);
      out_.push_back(':');
      Value(*entries[i].second, value, -1);
      if (t_values_left < 0) return;
      if (replaced) {
        out_.resize(mark);
      } else {
        first = false;
      }
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
        out_.append((rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false");
        return;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int number = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
        if (f->enum_type()->full_name() == "google.protobuf.NullValue") {
          out_.append("null");
          return;
        }
        if (o_.enums_as_strings) {
          if (const auto* v = f->enum_type()->FindValueByNumber(number)) return String(v->name());
        }
        return Integer(number);
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                   : r->GetStringReference(m, f, &scratch);
        if (f->type() != FieldDescriptor::TYPE_BYTES) return String(s);
        out_.push_back('"');
        absl::StrAppend(&out_, absl::Base64Escape(s));  // nothing in base64 needs escaping
        out_.push_back('"');
        return;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Message(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
    }
    out_.append("null");
  }

  template <typename Int>
  void Integer(Int v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
  }

  // FloatToJson's value as the serializer prints it.
  void Double(double v) {
    if (std::isnan(v)) return out_.append("\"NaN\""), void();
    if (std::isinf(v)) return out_.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\""), void();
    char buf[64];
    out_.append(buf, nlohmann::detail::to_chars(buf, buf + sizeof buf, v));
  }

  void String(std::string_view s) {
    if (encoding::IsValidUtf8(s)) return encoding::AppendJsonString(s, &out_);
    Leaf(json(std::string(s)));  // the serializer's replacement characters
  }

  void Leaf(const json& v) {
    if (!serializer_) {
      serializer_.emplace(nlohmann::detail::output_adapter<char>(out_), ' ',
                          json::error_handler_t::replace);
    }
    serializer_->dump(v, false, false, 0);
  }

  const JsonLayout& layout_;
  const OutputOptions& o_;
  std::string& out_;
  std::optional<nlohmann::detail::serializer<json>> serializer_;  // made on first use
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
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return absl::StrCat("the string ", Dump(v));
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    default: return absl::StrCat("the number ", Dump(v));
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
        (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<Int>::max()))) {
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
  if (s == "NaN") *out = std::numeric_limits<double>::quiet_NaN();
  else if (s == "Infinity") *out = std::numeric_limits<double>::infinity();
  else if (s == "-Infinity") *out = -std::numeric_limits<double>::infinity();
  else return absl::SimpleAtod(s, out);
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
      if (v.is_boolean()) x = v.get<bool>();
      else if (v == "true") x = true;
      else if (v == "false") x = false;
      else return TypeError(path, "true or false", v);
      rep ? r->AddBool(m, f, x) : r->SetBool(m, f, x);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number;
      if (v.is_string()) {
        const auto* ev = f->enum_type()->FindValueByName(v.get_ref<const std::string&>());
        if (ev != nullptr) number = ev->number();
        else if (!absl::SimpleAtoi(v.get_ref<const std::string&>(), &number)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "field \"", path, "\": ", Dump(v), " is not a value of ", f->enum_type()->full_name()));
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
        return absl::InvalidArgumentError(
            absl::StrCat("field \"", path, "\": not valid UTF-8"));
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
      case json::value_t::null: return set(1, 0);
      case json::value_t::boolean: return set(4, j);
      case json::value_t::string: return set(3, j);
      case json::value_t::object: return set(5, j);
      case json::value_t::array: return set(6, j);
      default: return set(2, j);
    }
  }
  if (Name(d) == kListValue) {
    if (!j.is_array()) return TypeError(path, "an array", j);
    for (const json& item : j) {
      if (absl::Status s = SetValue(item, m, d->FindFieldByNumber(1), path, depth); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (!j.is_object()) return TypeError(path, "an object", j);
  for (const auto& [key, value] : j.items()) {
    const std::string sub = path.empty() ? key : absl::StrCat(path, ".", key);
    const FieldDescriptor* f =
        Name(d) == kStruct ? d->FindFieldByNumber(1) : FindField(d, key);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", sub, "\": unknown field of ",
                                                     d->full_name()));
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
                                                     const OutputOptions& options) {
  if (HasOwnForm(type, options)) return nullptr;
  auto layout = std::unique_ptr<JsonLayout>(new JsonLayout());
  layout->options_ = options;
  layout->Add(type);
  return layout;
}

std::vector<JsonLayout::Member> JsonLayout::SortedMembers(const gpb::Descriptor* d,
                                                          const OutputOptions& options) {
  std::vector<Member> members;
  members.reserve(d->field_count());
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    members.push_back({options.camel_case ? f->json_name() : f->name(), f});
  }
  // The tree's key order; of members sharing a name, field order (the tree keeps the last).
  std::stable_sort(members.begin(), members.end(),
                   [](const Member& a, const Member& b) { return a.name < b.name; });
  return members;
}

void JsonLayout::Add(const gpb::Descriptor* d) {
  // Well-known types with a form of their own are written from their tree value.
  if (HasOwnForm(d, options_) || !visited_.insert(d).second) return;
  std::vector<Member> members = SortedMembers(d, options_);
  // A hand-made descriptor could name a field anything: such a type is left out, and its
  // names are checked as they are written.
  if (std::all_of(members.begin(), members.end(),
                  [](const Member& m) { return encoding::IsValidUtf8(m.name); })) {
    members_.emplace(d, std::move(members));
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_map()) {
      if (const gpb::Descriptor* value = f->message_type()->map_value()->message_type()) Add(value);
    } else if (const gpb::Descriptor* sub = f->message_type()) {
      Add(sub);
    }
  }
}

const std::vector<JsonLayout::Member>* JsonLayout::MembersOf(const gpb::Descriptor* d) const {
  auto it = members_.find(d);
  return it == members_.end() ? nullptr : &it->second;
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

absl::Status JsonToMessage(const json& j, gpb::Message* message) {
  return FillMessage(j, message, "", 0);
}

std::vector<const FieldDescriptor*> ResolvePath(const gpb::Descriptor* type,
                                                std::string_view dotted) {
  std::vector<const FieldDescriptor*> fields;
  for (absl::string_view part : absl::StrSplit(absl::string_view(dotted.data(), dotted.size()), '.')) {
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
