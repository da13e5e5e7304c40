#include "gateway/encoding/xml.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/encoding/utf8.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

// XML 1.0 `Char`: what a document may contain at all.
bool IsXmlChar(char32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

// Characters we write in element and attribute names. A subset of XML 1.0's NameStartChar:
// ASCII letters and '_', Latin-1 letters and CJK ideographs, which both the 4th edition rules
// (expat, older libxml2) and the 5th accept. No ':' since we write no namespaces.
bool IsNameStartChar(char32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (c >= 0xC0 && c <= 0xD6) ||
         (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0xFF) || (c >= 0x4E00 && c <= 0x9FA5);
}

bool IsNameChar(char32_t c) {
  return IsNameStartChar(c) || c == '-' || c == '.' || (c >= '0' && c <= '9');
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string LocalName(std::string_view qualified) {
  const size_t colon = qualified.rfind(':');
  return std::string(colon == std::string_view::npos ? qualified : qualified.substr(colon + 1));
}

// ----- Decoding -----------------------------------------------------------------------------

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  absl::StatusOr<Json> Document() {
    if (Starts("\xEF\xBB\xBF")) pos_ += 3;
    if (absl::Status s = CheckCharacters(); !s.ok()) return s;
    if (absl::Status s = Misc(/*before_root=*/true); !s.ok()) return s;
    if (AtEnd()) return Error("no root element");
    std::string name;
    Json value;
    if (absl::Status s = Element(1, &name, &value); !s.ok()) return s;
    if (absl::Status s = Misc(/*before_root=*/false); !s.ok()) return s;
    if (!AtEnd()) return Error("content after the root element");
    Json document = Json::object();
    document[LocalName(name)] = std::move(value);
    return document;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid XML at byte ", pos_, ": ", std::string(what)));
  }

  bool AtEnd() const { return pos_ >= in_.size(); }
  bool Starts(std::string_view s) const { return in_.substr(pos_, s.size()) == s; }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(in_[pos_])) ++pos_;
  }

  // Valid UTF-8 made only of XML characters, checked once up front.
  absl::Status CheckCharacters() {
    for (size_t i = pos_; i < in_.size();) {
      char32_t c = 0;
      const size_t n = DecodeUtf8(in_, i, &c);
      if (n == 0) {
        pos_ = i;
        return Error("invalid UTF-8");
      }
      if (!IsXmlChar(c)) {
        pos_ = i;
        return Error(
            absl::StrFormat("character U+%04X is not allowed in XML", static_cast<uint32_t>(c)));
      }
      i += n;
    }
    return absl::OkStatus();
  }

  // Skips past `terminator`, or fails naming `what` was left open.
  absl::Status SkipPast(std::string_view terminator, std::string_view what) {
    const size_t end = in_.find(terminator, pos_);
    if (end == std::string_view::npos)
      return Error(absl::StrCat("unterminated ", std::string(what)));
    pos_ = end + terminator.size();
    return absl::OkStatus();
  }

  // Whitespace, comments and processing instructions around the root element.
  absl::Status Misc(bool before_root) {
    while (true) {
      SkipSpace();
      if (Starts("<!--")) {
        if (absl::Status s = SkipPast("-->", "comment"); !s.ok()) return s;
      } else if (Starts("<?")) {
        if (absl::Status s = SkipPast("?>", "processing instruction"); !s.ok()) return s;
      } else if (Starts("<!")) {
        return Error(before_root && Starts("<!DOCTYPE")
                         ? "DOCTYPE is not allowed (entity declarations are not supported)"
                         : "unexpected markup declaration");
      } else if (AtEnd() || (before_root && Starts("<"))) {
        return absl::OkStatus();
      } else {
        return Error(before_root ? "text before the root element"
                                 : "content after the root element");
      }
    }
  }

  absl::Status Name(std::string* out) {
    const size_t start = pos_;
    while (!AtEnd()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      const bool ascii_start =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
      const bool ascii_more = (c >= '0' && c <= '9') || c == '-' || c == '.';
      // Non-ASCII letters are accepted as name characters without the full XML table.
      if (ascii_start || c >= 0x80 || (pos_ > start && ascii_more)) {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Error("expected a name");
    *out = std::string(in_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  // At '&': appends the referenced character.
  absl::Status Reference(std::string* out) {
    const size_t semi = in_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) {
      return Error("'&' must start an entity or character reference");
    }
    const std::string_view ref = in_.substr(pos_ + 1, semi - pos_ - 1);
    if (ref == "lt") {
      out->push_back('<');
    } else if (ref == "gt") {
      out->push_back('>');
    } else if (ref == "amp") {
      out->push_back('&');
    } else if (ref == "quot") {
      out->push_back('"');
    } else if (ref == "apos") {
      out->push_back('\'');
    } else if (!ref.empty() && ref[0] == '#') {
      const bool hex = ref.size() > 1 && ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return Error("empty character reference");
      uint32_t value = 0;
      for (char c : digits) {
        uint32_t d = 0;
        if (c >= '0' && c <= '9') {
          d = static_cast<uint32_t>(c - '0');
        } else if (hex && c >= 'a' && c <= 'f') {
          d = static_cast<uint32_t>(c - 'a' + 10);
        } else if (hex && c >= 'A' && c <= 'F') {
          d = static_cast<uint32_t>(c - 'A' + 10);
        } else {
          return Error("malformed character reference");
        }
        value = value * (hex ? 16 : 10) + d;
        if (value > 0x10FFFF) return Error("character reference out of range");
      }
      if (!IsXmlChar(value)) return Error("character reference to a forbidden character");
      AppendUtf8(value, out);
    } else {
      return Error(absl::StrCat("undefined entity &", std::string(ref),
                                "; (only the predefined XML entities are decoded)"));
    }
    pos_ = semi + 1;
    return absl::OkStatus();
  }

  // Character data up to (not including) the next '<', with references decoded and line ends
  // normalised as XML requires.
  absl::Status CharData(char quote, std::string* out) {
    while (!AtEnd() && in_[pos_] != '<' && in_[pos_] != quote) {
      const char c = in_[pos_];
      if (c == '&') {
        if (absl::Status s = Reference(out); !s.ok()) return s;
        continue;
      }
      if (c == '\r') {
        out->push_back('\n');
        ++pos_;
        if (!AtEnd() && in_[pos_] == '\n') ++pos_;
        continue;
      }
      out->push_back(c);
      ++pos_;
    }
    return absl::OkStatus();
  }

  // At '<' of a start tag. Produces the element's qualified name and JSON value.
  absl::Status Element(int depth, std::string* name, Json* value) {
    if (depth > kMaxXmlDepth) {
      return Error(absl::StrCat("elements nest deeper than ", kMaxXmlDepth, " levels"));
    }
    ++pos_;  // '<'
    if (absl::Status s = Name(name); !s.ok()) return s;

    std::vector<std::pair<std::string, std::string>> attributes;
    bool empty_element = false;
    while (true) {
      const size_t before = pos_;
      SkipSpace();
      if (AtEnd()) return Error("unterminated start tag");
      if (Starts("/>")) {
        pos_ += 2;
        empty_element = true;
        break;
      }
      if (in_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (pos_ == before) return Error("expected whitespace before an attribute");
      std::string attribute;
      if (absl::Status s = Name(&attribute); !s.ok()) return s;
      SkipSpace();
      if (AtEnd() || in_[pos_] != '=') return Error("expected '=' after an attribute name");
      ++pos_;
      SkipSpace();
      if (AtEnd() || (in_[pos_] != '"' && in_[pos_] != '\'')) {
        return Error("attribute values must be quoted");
      }
      const char quote = in_[pos_++];
      std::string text;
      if (absl::Status s = CharData(quote, &text); !s.ok()) return s;
      if (AtEnd() || in_[pos_] != quote) return Error("'<' in an attribute value");
      ++pos_;
      for (const auto& [seen, unused] : attributes) {
        if (seen == attribute) return Error(absl::StrCat("duplicate attribute ", attribute));
      }
      attributes.emplace_back(std::move(attribute), std::move(text));
    }

    Json children = Json::object();
    std::string text;     // trimmed runs, joined by one space
    std::string pending;  // the current run
    const auto flush = [&text, &pending]() {
      const std::string_view run = Trim(pending);
      if (!run.empty()) {
        if (!text.empty()) text.push_back(' ');
        text.append(run);
      }
      pending.clear();
    };

    while (!empty_element) {
      if (AtEnd()) return Error(absl::StrCat("element <", *name, "> is not closed"));
      if (Starts("</")) {
        pos_ += 2;
        std::string end;
        if (absl::Status s = Name(&end); !s.ok()) return s;
        if (end != *name) {
          return Error(absl::StrCat("</", end, "> does not close <", *name, ">"));
        }
        SkipSpace();
        if (AtEnd() || in_[pos_] != '>') return Error("malformed end tag");
        ++pos_;
        break;
      }
      if (Starts("<!--")) {
        if (absl::Status s = SkipPast("-->", "comment"); !s.ok()) return s;
      } else if (Starts("<![CDATA[")) {
        pos_ += 9;
        const size_t end = in_.find("]]>", pos_);
        if (end == std::string_view::npos) return Error("unterminated CDATA section");
        pending.append(in_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else if (Starts("<?")) {
        if (absl::Status s = SkipPast("?>", "processing instruction"); !s.ok()) return s;
      } else if (Starts("<!")) {
        return Error("markup declarations are not allowed inside elements");
      } else if (Starts("<")) {
        flush();
        std::string child_name;
        Json child;
        if (absl::Status s = Element(depth + 1, &child_name, &child); !s.ok()) return s;
        const std::string key = LocalName(child_name);
        auto it = children.find(key);
        if (it == children.end()) {
          children[key] = std::move(child);
        } else if (it->is_array()) {  // element values are never arrays: this is a repeat
          it->push_back(std::move(child));
        } else {
          Json repeated = Json::array();
          repeated.push_back(std::move(it.value()));
          repeated.push_back(std::move(child));
          it.value() = std::move(repeated);
        }
      } else {
        if (absl::Status s = CharData('<', &pending); !s.ok()) return s;
      }
    }
    flush();

    if (attributes.empty() && children.empty()) {
      *value = std::move(text);
      return absl::OkStatus();
    }
    for (auto& [attribute, attribute_value] : attributes) {
      children["-" + LocalName(attribute)] = std::move(attribute_value);
    }
    if (!text.empty()) children["#text"] = std::move(text);
    *value = std::move(children);
    return absl::OkStatus();
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// ----- Encoding -----------------------------------------------------------------------------

std::string XmlName(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size();) {
    char32_t c = 0;
    size_t n = DecodeUtf8(key, i, &c);
    if (n == 0) {
      c = '_';
      n = 1;
    }
    if (out.empty()) {
      if (IsNameStartChar(c)) {
        AppendUtf8(c, &out);
      } else if (IsNameChar(c)) {
        out.push_back('_');
        AppendUtf8(c, &out);
      } else {
        out.push_back('_');
      }
    } else {
      AppendUtf8(IsNameChar(c) ? c : U'_', &out);
    }
    i += n;
  }
  if (out.empty()) out = "_";
  return out;
}

void AppendEscaped(std::string_view s, bool attribute, std::string* out) {
  ForEachCodePoint(s, [&](char32_t c) {
    switch (c) {
      case '&':
        out->append("&amp;");
        return;
      case '<':
        out->append("&lt;");
        return;
      case '>':
        out->append("&gt;");
        return;
      case '"':
        out->append(attribute ? "&quot;" : "\"");
        return;
      case '\r':  // a parser would turn a raw CR into LF
        out->append("&#13;");
        return;
      case '\n':
      case '\t':  // a parser would turn raw whitespace in an attribute into spaces
        if (attribute) {
          out->append(c == '\n' ? "&#10;" : "&#9;");
        } else {
          out->push_back(static_cast<char>(c));
        }
        return;
      default:
        AppendUtf8(IsXmlChar(c) ? c : kReplacementChar, out);
    }
  });
}

bool IsScalar(const Json& v) { return !v.is_object() && !v.is_array(); }

void AppendScalar(const Json& v, bool attribute, std::string* out) {
  if (v.is_string()) {
    AppendEscaped(v.get_ref<const std::string&>(), attribute, out);
  } else if (!v.is_null()) {
    out->append(v.dump());  // numbers and booleans: plain ASCII
  }
}

class Writer {
 public:
  absl::Status Element(const std::string& name, const Json& value, int depth) {
    if (depth > kMaxXmlRenderDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("value nests deeper than ", kMaxXmlRenderDepth, " levels"));
    }
    if (value.is_null() || (value.is_object() && value.empty()) ||
        (value.is_array() && value.empty())) {
      Open(name);
      out_.append("/>");
      return absl::OkStatus();
    }
    if (value.is_array()) {
      Open(name);
      out_.push_back('>');
      for (const Json& item : value) {
        if (absl::Status s = Element("item", item, depth + 1); !s.ok()) return s;
      }
      Close(name);
      return absl::OkStatus();
    }
    if (!value.is_object()) {
      Open(name);
      out_.push_back('>');
      AppendScalar(value, false, &out_);
      Close(name);
      return absl::OkStatus();
    }

    Open(name);
    std::vector<std::string> attributes;  // written names, to keep them unique
    std::vector<const Json*> attribute_values;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!IsAttribute(it.key(), it.value())) continue;
      std::string attribute = XmlName(std::string_view(it.key()).substr(1));
      bool duplicate = false;
      for (const std::string& seen : attributes) duplicate = duplicate || seen == attribute;
      if (duplicate) continue;  // written as an element below
      attributes.push_back(attribute);
      attribute_values.push_back(&it.value());
      out_.push_back(' ');
      out_.append(attribute);
      out_.append("=\"");
      AppendScalar(it.value(), true, &out_);
      out_.push_back('"');
    }
    bool content = false;
    const auto start_content = [this, &content]() {
      if (!content) out_.push_back('>');
      content = true;
    };
    if (auto text = value.find("#text"); text != value.end() && IsScalar(*text)) {
      start_content();
      AppendScalar(*text, false, &out_);
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() == "#text" && IsScalar(it.value())) continue;
      if (IsAttribute(it.key(), it.value())) {
        bool written = false;
        for (const Json* v : attribute_values) written = written || v == &it.value();
        if (written) continue;
      }
      if (it->is_array()) {
        for (const Json& item : *it) {
          start_content();
          if (absl::Status s = Element(XmlName(it.key()), item, depth + 1); !s.ok()) return s;
        }
      } else {
        start_content();
        if (absl::Status s = Element(XmlName(it.key()), it.value(), depth + 1); !s.ok()) {
          return s;
        }
      }
    }
    if (content) {
      Close(name);
    } else {
      out_.append("/>");
    }
    return absl::OkStatus();
  }

  std::string Take() { return std::move(out_); }

 private:
  static bool IsAttribute(const std::string& key, const Json& value) {
    return key.size() > 1 && key[0] == '-' && IsScalar(value);
  }
  void Open(const std::string& name) {
    out_.push_back('<');
    out_.append(name);
  }
  void Close(const std::string& name) {
    out_.append("</");
    out_.append(name);
    out_.push_back('>');
  }

  std::string out_;
};

}  // namespace

absl::StatusOr<nlohmann::json> XmlToJson(std::string_view xml) { return Reader(xml).Document(); }

absl::StatusOr<std::string> JsonToXml(const nlohmann::json& value) {
  Writer writer;
  if (absl::Status s = writer.Element("response", value, 0); !s.ok()) return s;
  return writer.Take();
}

}  // namespace sluice::encoding
