#include "gateway/encoding/yaml.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/encoding/utf8.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

// YAML limits implicit (`key: value`) keys to 1024 characters.
constexpr size_t kMaxImplicitKey = 1024;

bool IsPlainSafe(std::string_view s) {
  if (s.empty() || s.back() == ' ') return false;
  const char first = s.front();
  if (!absl::ascii_isalpha(static_cast<unsigned char>(first)) && first != '_' && first != '/') {
    return false;
  }
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    switch (c) {
      case ' ':
      case '_':
      case '-':
      case '.':
      case '/':
      case '(':
      case ')':
      case '+':
        continue;
      default:
        return false;
    }
  }
  // Words YAML 1.1 or 1.2 resolve to null or a boolean.
  const std::string lower = absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
  for (const char* word : {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}) {
    if (lower == word) return false;
  }
  return true;
}

void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  ForEachCodePoint(s, [&](char32_t c) {
    switch (c) {
      case '"':
        out->append("\\\"");
        return;
      case '\\':
        out->append("\\\\");
        return;
      case '\n':
        out->append("\\n");
        return;
      case '\t':
        out->append("\\t");
        return;
      case '\r':
        out->append("\\r");
        return;
      case 0:
        out->append("\\0");
        return;
      case 0x85:
        out->append("\\N");
        return;
      case 0x2028:
        out->append("\\L");
        return;
      case 0x2029:
        out->append("\\P");
        return;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
      absl::StrAppend(out, "\\x", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad2));
    } else if ((c >= 0x80 && c <= 0x9F) || c == 0xFEFF || c == 0xFFFE || c == 0xFFFF) {
      absl::StrAppend(out, "\\u", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad4));
    } else {
      AppendUtf8(c, out);
    }
  });
  out->push_back('"');
}

void AppendString(std::string_view s, std::string* out) {
  if (IsPlainSafe(s)) {
    out->append(s);
  } else {
    AppendQuoted(s, out);
  }
}

void AppendScalar(const Json& v, std::string* out) {
  switch (v.type()) {
    case Json::value_t::null:
      out->append("null");
      return;
    case Json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::string:
      AppendString(v.get_ref<const std::string&>(), out);
      return;
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isnan(d)) {
        out->append(".nan");
        return;
      }
      if (std::isinf(d)) {
        out->append(d > 0 ? ".inf" : "-.inf");
        return;
      }
      std::string text = v.dump();
      if (text.find('.') == std::string::npos) {
        const size_t e = text.find_first_of("eE");
        text.insert(e == std::string::npos ? text.size() : e, ".0");
      }
      out->append(text);
      return;
    }
    case Json::value_t::object:
      out->append("{}");  // only reached when empty
      return;
    case Json::value_t::array:
      out->append("[]");
      return;
    default:  // integers; binary cannot come from JSON text
      out->append(v.dump());
      return;
  }
}

bool IsBlock(const Json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

class Emitter {
 public:
  absl::Status Document(const Json& value) {
    if (IsBlock(value)) return Block(value, 0, false, 0);
    AppendScalar(value, &out_);
    out_.push_back('\n');
    return absl::OkStatus();
  }

  std::string Take() { return std::move(out_); }

 private:
  // Writes a non-empty object or array at `indent`. With `inline_first`, the first line
  // continues the current one (after "- ").
  absl::Status Block(const Json& v, size_t indent, bool inline_first, int depth) {
    if (depth > kMaxYamlRenderDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("value nests deeper than ", kMaxYamlRenderDepth, " levels"));
    }
    bool first = true;
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!(first && inline_first)) out_.append(indent, ' ');
        first = false;
        std::string key;
        AppendString(it.key(), &key);
        if (key.size() > kMaxImplicitKey) {
          out_.append("? ");
          out_.append(key);
          out_.push_back('\n');
          out_.append(indent, ' ');
          out_.push_back(':');
        } else {
          out_.append(key);
          out_.push_back(':');
        }
        if (absl::Status s = Value(it.value(), indent, depth); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    for (const Json& item : v) {
      if (!(first && inline_first)) out_.append(indent, ' ');
      first = false;
      out_.append("- ");
      if (IsBlock(item)) {
        if (absl::Status s = Block(item, indent + 2, true, depth + 1); !s.ok()) return s;
      } else {
        AppendScalar(item, &out_);
        out_.push_back('\n');
      }
    }
    return absl::OkStatus();
  }

  // The value of a mapping entry whose "key:" is already written at `indent`.
  absl::Status Value(const Json& v, size_t indent, int depth) {
    if (IsBlock(v)) {
      out_.push_back('\n');
      return Block(v, indent + 2, false, depth + 1);
    }
    out_.push_back(' ');
    AppendScalar(v, &out_);
    out_.push_back('\n');
    return absl::OkStatus();
  }

  std::string out_;
};

}  // namespace

absl::StatusOr<std::string> RenderYaml(const nlohmann::json& value) {
  Emitter emitter;
  if (absl::Status s = emitter.Document(value); !s.ok()) return s;
  return emitter.Take();
}

}  // namespace sluice::encoding
