#include "gateway/config/reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sluice::config {

namespace {

using Json = nlohmann::json;

// Keys starting with one of these are comments or editor hints (the KrakenD schema allows them
// at every level via "patternProperties": {"^[@$_#]": true}).
constexpr std::string_view kCommentPrefixes = "@$_#";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(std::string_view s) {
  return absl::StrCat("\"", absl::string_view(s.data(), s.size()), "\"");
}

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string DurationError(std::string_view text) {
  if (!text.empty() && text.front() == '-' && ParseDuration(text.substr(1))) {
    return absl::StrCat("negative duration ", Quote(text), " is not allowed");
  }
  return absl::StrCat("malformed duration ", Quote(text),
                      " (use Go syntax such as \"2s\", \"1500ms\")");
}

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (key.empty()) return std::string(parent);  // the object itself
  return parent.empty() ? std::string(key) : absl::StrCat(View(parent), ".", View(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(View(parent), "[", index, "]");
}

std::string TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "unsupported value";
  }
}

std::optional<std::string_view> SuggestKey(std::string_view key,
                                           absl::Span<const std::string_view> known) {
  std::optional<std::string_view> best;
  size_t best_distance = 3;  // two typos at most, or it is a different word
  const std::string lower = absl::AsciiStrToLower(View(key));
  for (std::string_view k : known) {
    size_t d = EditDistance(lower, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  if (key.size() <= 3 && best_distance > 1) return std::nullopt;
  return best;
}

std::optional<absl::Duration> ParseDuration(std::string_view text) {
  std::string_view s = text;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '-') return std::nullopt;  // negative: never valid in a config
  if (s == "0") return absl::ZeroDuration();
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total = 0;
  while (!s.empty()) {
    // Go's time.ParseDuration: [0-9]*(\.[0-9]*)?[a-zµμ]+, repeated.
    uint64_t whole = 0;
    bool has_whole = false;
    while (!s.empty() && IsDigit(s.front())) {
      if (whole > kMax / 10) return std::nullopt;
      whole = whole * 10 + static_cast<uint64_t>(s.front() - '0');
      if (whole > kMax) return std::nullopt;
      has_whole = true;
      s.remove_prefix(1);
    }
    uint64_t frac = 0;
    double scale = 1;
    bool has_frac = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      bool saturated = false;
      while (!s.empty() && IsDigit(s.front())) {
        has_frac = true;
        if (!saturated && frac <= kMax / 10) {
          frac = frac * 10 + static_cast<uint64_t>(s.front() - '0');
          scale *= 10;
        } else {
          saturated = true;  // further digits are below nanosecond precision
        }
        s.remove_prefix(1);
      }
    }
    if (!has_whole && !has_frac) return std::nullopt;
    size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] != '.' && !IsDigit(s[unit_len])) ++unit_len;
    std::string_view unit = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    uint64_t nanos = 0;
    if (unit == "ns") {
      nanos = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {  // µs, μs
      nanos = 1000;
    } else if (unit == "ms") {
      nanos = 1000 * 1000;
    } else if (unit == "s") {
      nanos = 1000 * 1000 * 1000;
    } else if (unit == "m") {
      nanos = 60ull * 1000 * 1000 * 1000;
    } else if (unit == "h") {
      nanos = 3600ull * 1000 * 1000 * 1000;
    } else {
      return std::nullopt;  // missing or unknown unit
    }
    if (whole > kMax / nanos) return std::nullopt;
    uint64_t value = whole * nanos;
    if (frac > 0) {
      value +=
          static_cast<uint64_t>(static_cast<double>(frac) * (static_cast<double>(nanos) / scale));
      if (value > kMax) return std::nullopt;
    }
    total += value;
    if (total > kMax) return std::nullopt;
  }
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

ObjectReader::ObjectReader(const Json& object, std::string path, Diagnostics* sink)
    : object_(&object), path_(std::move(path)), sink_(sink) {
  if (!object.is_object()) {
    sink_->errors.push_back({path_, absl::StrCat("expected an object, got ", TypeName(object))});
    object_ = nullptr;
  }
}

const Json* ObjectReader::Find(std::string_view key) const {
  if (object_ == nullptr) return nullptr;
  auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

void ObjectReader::Error(std::string_view key, std::string message) {
  sink_->errors.push_back({PathOf(key), std::move(message)});
}

void ObjectReader::Warn(std::string_view key, std::string message) {
  sink_->warnings.push_back({PathOf(key), std::move(message)});
}

void ObjectReader::Lint(std::string_view key, std::string message) {
  sink_->lint.push_back({PathOf(key), std::move(message)});
}

std::optional<std::string> ObjectReader::String(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    Error(key, absl::StrCat("expected a string, got ", TypeName(*v)));
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False")
    return false;
  return std::nullopt;
}

std::optional<bool> ObjectReader::Bool(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) {
    // Go's strconv.ParseBool, which KrakenD's loose decoding uses.
    const std::string& s = v->get_ref<const std::string&>();
    if (std::optional<bool> b = ParseGoBool(s)) {
      Lint(key, absl::StrCat("a boolean written as the string ", Quote(s)));
      return b;
    }
  }
  Error(key, absl::StrCat("expected a boolean, got ", TypeName(*v)));
  return std::nullopt;
}

std::optional<int64_t> ObjectReader::Int(std::string_view key, int64_t min, int64_t max) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  std::optional<int64_t> n;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Error(key, "integer out of range");
      return std::nullopt;
    }
    n = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.2e18)
      n = static_cast<int64_t>(d);
  } else if (v->is_string()) {
    int64_t parsed = 0;
    if (absl::SimpleAtoi(View(v->get_ref<const std::string&>()), &parsed)) {
      Lint(key, absl::StrCat("an integer written as the string ",
                             Quote(v->get_ref<const std::string&>())));
      n = parsed;
    }
  }
  if (!n) {
    Error(key, absl::StrCat("expected an integer, got ", TypeName(*v)));
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    Error(key, absl::StrCat("must be between ", min, " and ", max, ", got ", *n));
    return std::nullopt;
  }
  return n;
}

std::optional<double> ObjectReader::Number(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    double d = 0;
    if (absl::SimpleAtod(View(v->get_ref<const std::string&>()), &d) && std::isfinite(d)) {
      Lint(key, absl::StrCat("a number written as the string ",
                             Quote(v->get_ref<const std::string&>())));
      return d;
    }
  }
  Error(key, absl::StrCat("expected a number, got ", TypeName(*v)));
  return std::nullopt;
}

std::optional<absl::Duration> ObjectReader::Duration(std::string_view key, bool int_seconds) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (int_seconds && v->is_number_integer()) {
    std::optional<int64_t> n =
        Int(key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    if (!n) return std::nullopt;
    if (*n < 0) {
      Error(key, absl::StrCat("negative duration ", *n, " is not allowed"));
      return std::nullopt;
    }
    return absl::Seconds(*n);
  }
  if (!v->is_string()) {
    Error(key,
          absl::StrCat("expected ",
                       int_seconds ? "a duration string or integer seconds" : "a duration string",
                       ", got ", TypeName(*v)));
    return std::nullopt;
  }
  const std::string& text = v->get_ref<const std::string&>();
  std::optional<absl::Duration> d = ParseDuration(text);
  if (!d) Error(key, DurationError(text));
  return d;
}

std::optional<std::vector<std::string>> ObjectReader::Strings(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    Error(key, absl::StrCat("expected an array of strings, got ", TypeName(*v)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& item = (*v)[i];
    if (!item.is_string()) {
      sink_->errors.push_back(
          {IndexPath(PathOf(key), i), absl::StrCat("expected a string, got ", TypeName(item))});
      ok = false;
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<ObjectReader> ObjectReader::Object(std::string_view key) {
  const Json* v = Find(key);
  if (v == nullptr) return std::nullopt;
  ObjectReader nested(*v, PathOf(key), sink_);
  if (!nested.ok()) return std::nullopt;
  return nested;
}

void ObjectReader::CheckKeys(absl::Span<const std::string_view> known) {
  if (object_ == nullptr) return;
  for (auto it = object_->begin(); it != object_->end(); ++it) {
    const std::string& key = it.key();
    if (!key.empty() && kCommentPrefixes.find(key[0]) != std::string_view::npos) continue;
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string message = "unknown key";
    if (std::optional<std::string_view> s = SuggestKey(key, known)) {
      absl::StrAppend(&message, " (did you mean ", Quote(*s), "?)");
    }
    Lint(key, std::move(message));
  }
}

}  // namespace sluice::config
