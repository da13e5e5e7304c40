// RenderJsonObjectDirect: a backend's JSON object re-rendered the way RenderJson(DecodeJson(...))
// renders it (keys sorted bytewise, compact, nlohmann's number and string forms), in one pass
// over the bytes and without nlohmann's tree. Whatever this pass is not certain to render the
// same (duplicate keys, deep nesting, numbers out of range, anything invalid) it leaves to the
// tree: it returns false and writes nothing the caller keeps.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/encoding/json.h"
#include "gateway/encoding/utf8.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

namespace {

// Deeper bodies take the tree (which allows kMaxJsonDepth); real answers nest < 20 levels.
constexpr int kMaxDirectDepth = 64;
// So do larger ones: each object level copies its members once more, and the scratch below
// should not grow toward max_response_bytes.
constexpr size_t kMaxDirectBytes = 1 << 20;
// Scratch buffers grown past these are released after the body, so a thread does not keep
// what its largest answer needed.
constexpr size_t kKeptBufferBytes = 64 << 10;
constexpr size_t kKeptMembers = 1024;
// Each object level copies its rendered members into the level above, so a body nesting its
// bulk deep would be copied once per level (63 levels around 1 MiB: 64 MiB copied, against the
// tree's 1). The copying stops at this many times the body's size, and the tree takes over.
constexpr size_t kCopiesPerByte = 8;

// One member of an object being rendered: its decoded key and its rendered value, as ranges of
// the object's level buffer.
struct Member {
  size_t key_begin;
  size_t key_size;
  size_t value_begin;
  size_t value_size;
  bool plain;  // the key had no escapes: its bytes need none either
};

// Reused by every body a thread renders: a buffer and a member list per nesting level (the
// members of an object are rendered there, then copied out in key order).
struct Scratch {
  std::array<std::string, kMaxDirectDepth> levels;
  std::array<std::vector<Member>, kMaxDirectDepth> members;
  std::string text;  // a string value, decoded
  int deepest = -1;  // the deepest level the current body used

  void Trim() {
    for (int i = 0; i <= deepest; ++i) {
      if (levels[i].capacity() > kKeptBufferBytes) std::string().swap(levels[i]);
      if (members[i].capacity() > kKeptMembers) std::vector<Member>().swap(members[i]);
    }
    if (text.capacity() > kKeptBufferBytes) std::string().swap(text);
    deepest = -1;
  }
};

class DirectRenderer {
 public:
  DirectRenderer(std::string_view in, Scratch& scratch)
      : in_(in), s_(scratch), copy_budget_(kCopiesPerByte * in.size() + 4096) {}

  // The string at the start of the input, decoded.
  bool Key(std::string* out) { return String(out); }

  bool Document(std::string* out) {
    SkipSpace();
    if (Peek() != '{' || !Object(out, 0)) return false;
    SkipSpace();
    return pos_ == in_.size();
  }

 private:
  char Peek() const { return pos_ < in_.size() ? in_[pos_] : '\0'; }

  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Value(std::string* out, int depth) {
    SkipSpace();
    switch (Peek()) {
      case '{':
        return Object(out, depth);
      case '[':
        return Array(out, depth);
      case '"': {
        const size_t start = pos_;
        s_.text.clear();
        if (!String(&s_.text)) return false;
        // Without escapes the string is written as it came (it holds no `"`, `\` or control
        // character); with them, decoded and written as nlohmann writes it.
        if (!escaped_) {
          out->append(in_.data() + start, pos_ - start);
        } else {
          AppendJsonString(s_.text, out);
        }
        return true;
      }
      case 't':
        return Literal("true", out);
      case 'f':
        return Literal("false", out);
      case 'n':
        return Literal("null", out);
      default:
        return Number(out);
    }
  }

  bool Literal(std::string_view word, std::string* out) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    out->append(word);
    return true;
  }

  bool Object(std::string* out, int depth) {
    if (depth >= kMaxDirectDepth) return false;
    ++pos_;  // '{'
    std::string& buffer = s_.levels[depth];
    std::vector<Member>& members = s_.members[depth];
    s_.deepest = std::max(s_.deepest, depth);
    buffer.clear();
    members.clear();
    SkipSpace();
    if (Peek() == '}') {
      ++pos_;
      out->append("{}");
      return true;
    }
    while (true) {
      SkipSpace();
      if (Peek() != '"') return false;
      Member m{};
      m.key_begin = buffer.size();
      if (!String(&buffer)) return false;
      m.key_size = buffer.size() - m.key_begin;
      m.plain = !escaped_;
      SkipSpace();
      if (Peek() != ':') return false;
      ++pos_;
      m.value_begin = buffer.size();
      if (!Value(&buffer, depth + 1)) return false;
      m.value_size = buffer.size() - m.value_begin;
      members.push_back(m);
      SkipSpace();
      const char next = Peek();
      ++pos_;
      if (next == '}') break;
      if (next != ',') return false;
    }
    const std::string_view all = buffer;
    if (all.size() > copy_budget_) return false;
    copy_budget_ -= all.size();
    auto key = [all](const Member& m) { return all.substr(m.key_begin, m.key_size); };
    std::sort(members.begin(), members.end(),
              [&key](const Member& a, const Member& b) { return key(a) < key(b); });
    // nlohmann keeps the last of equal keys; which one was last is gone after the sort.
    for (size_t i = 1; i < members.size(); ++i) {
      if (key(members[i - 1]) == key(members[i])) return false;
    }
    if (!std::all_of(members.begin(), members.end(), [](const Member& m) { return m.plain; })) {
      return CopyOutEscaped(all, members, out);
    }
    // Keys without escapes: the object's size is known, so it is written with one resize and
    // plain copies (through std::string::append, each of its pieces paid a call and a check).
    const size_t at = out->size();
    out->resize(at + all.size() + 4 * members.size() + 2);
    char* p = out->data() + at;
    auto put = [&p](std::string_view piece) {
      std::memcpy(p, piece.data(), piece.size());
      p += piece.size();
    };
    *p++ = '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) *p++ = ',';
      *p++ = '"';
      put(key(members[i]));
      *p++ = '"';
      *p++ = ':';
      put(all.substr(members[i].value_begin, members[i].value_size));
    }
    *p++ = '}';
    out->resize(static_cast<size_t>(p - out->data()));
    return true;
  }

  // The members of an object with an escaped key, in their (sorted) order.
  static bool CopyOutEscaped(std::string_view all, const std::vector<Member>& members,
                             std::string* out) {
    out->push_back('{');
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out->push_back(',');
      const std::string_view key = all.substr(members[i].key_begin, members[i].key_size);
      if (members[i].plain) {
        out->push_back('"');
        out->append(key);
        out->push_back('"');
      } else {
        AppendJsonString(key, out);
      }
      out->push_back(':');
      out->append(all.substr(members[i].value_begin, members[i].value_size));
    }
    out->push_back('}');
    return true;
  }

  bool Array(std::string* out, int depth) {
    if (depth >= kMaxDirectDepth) return false;
    ++pos_;  // '['
    out->push_back('[');
    SkipSpace();
    if (Peek() == ']') {
      ++pos_;
      out->push_back(']');
      return true;
    }
    while (true) {
      if (!Value(out, depth + 1)) return false;
      SkipSpace();
      const char next = Peek();
      ++pos_;
      if (next == ']') break;
      if (next != ',') return false;
      out->push_back(',');
    }
    out->push_back(']');
    return true;
  }

  // A JSON string at pos_ (its opening quote), decoded into `out`: escapes resolved, UTF-8
  // checked as nlohmann's lexer checks it (no overlong forms, no surrogates, at most U+10FFFF).
  // escaped_ says whether it had escapes.
  bool String(std::string* out) {
    ++pos_;  // '"'
    escaped_ = false;
    size_t run = pos_;
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        out->append(in_.data() + run, pos_ - run);
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        out->append(in_.data() + run, pos_ - run);
        escaped_ = true;
        if (!Escape(out)) return false;
        run = pos_;
        continue;
      }
      if (c < 0x80) {
        ++pos_;
        continue;
      }
      // nlohmann's lexer takes the same strict UTF-8 as DecodeUtf8: no overlong forms, no
      // surrogates, nothing past U+10FFFF.
      char32_t cp = 0;
      const size_t n = DecodeUtf8(in_, pos_, &cp);
      if (n == 0) return false;
      pos_ += n;
    }
    return false;
  }

  bool Escape(std::string* out) {
    ++pos_;  // '\'
    const char c = Peek();
    ++pos_;
    static constexpr std::string_view kShort = "\"\\/bfnrt", kRaw = "\"\\/\b\f\n\r\t";
    if (const size_t k = kShort.find(c); k != std::string_view::npos) {
      out->push_back(kRaw[k]);
      return true;
    }
    if (c != 'u') return false;
    char32_t cp = 0;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      char32_t low = 0;
      if (in_.substr(pos_, 2) != "\\u") return false;
      pos_ += 2;
      if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return true;
  }

  // Four hex digits at pos_ (no sign, no prefix: from_chars into an unsigned type takes none).
  bool Hex4(char32_t* cp) {
    if (pos_ + 4 > in_.size()) return false;
    uint32_t value = 0;
    const char* first = in_.data() + pos_;
    const auto [end, ec] = std::from_chars(first, first + 4, value, 16);
    if (ec != std::errc() || end != first + 4) return false;
    pos_ += 4;
    *cp = value;
    return true;
  }

  // A number as nlohmann stores and prints it: an integer that fits int64 (negative) or uint64
  // as its decimal digits (so "-0" is 0), anything else as the nearest double in the shortest
  // form that reads back the same (nlohmann's to_chars: "1.0", "1e+21").
  bool Number(std::string* out) {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    } else {
      return false;
    }
    bool integer = true;
    if (Peek() == '.') {
      integer = false;
      ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      integer = false;
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    const char* first = in_.data() + start;
    const char* last = in_.data() + pos_;
    char digits[64];
    // Up to 18 digits fit either integer type, and JSON allows no leading zeros: nlohmann prints
    // such an integer as it came, but for "-0" (0).
    if (integer && last - first <= (*first == '-' ? 19 : 18) &&
        std::string_view(first, static_cast<size_t>(last - first)) != "-0") {
      out->append(first, last);
      return true;
    }
    if (integer) {
      std::to_chars_result printed{};
      if (*first == '-') {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(first, last, v);
        if (ec == std::errc() && end == last) printed = std::to_chars(digits, digits + 64, v);
      } else {
        uint64_t v = 0;
        const auto [end, ec] = std::from_chars(first, last, v);
        if (ec == std::errc() && end == last) printed = std::to_chars(digits, digits + 64, v);
      }
      if (printed.ptr != nullptr) {
        out->append(digits, printed.ptr);
        return true;
      }
      // Out of 64-bit range: nlohmann reads it as a double, as below.
    }
    double v = 0;
    const auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last || !std::isfinite(v)) return false;
    out->append(digits, nlohmann::detail::to_chars(digits, digits + 64, v));
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  Scratch& s_;
  size_t copy_budget_;    // bytes object levels may still copy upward
  bool escaped_ = false;  // the last string read had escapes
};

}  // namespace

namespace {

// The members of an object RenderJsonObjectDirect rendered, for merging.
struct RenderedMember {
  std::string_view key;   // decoded
  std::string_view text;  // `"key":value` as rendered
  size_t object;          // which object it came from
};

// Past a rendered string at `pos` (its opening quote).
size_t SkipString(std::string_view s, size_t pos) {
  for (++pos; s[pos] != '"'; ++pos) {
    if (s[pos] == '\\') ++pos;
  }
  return pos + 1;
}

// Past a rendered value at `pos`.
size_t SkipValue(std::string_view s, size_t pos) {
  if (s[pos] == '"') return SkipString(s, pos);
  if (s[pos] != '{' && s[pos] != '[') {
    while (pos < s.size() && s[pos] != ',' && s[pos] != '}' && s[pos] != ']') ++pos;
    return pos;
  }
  int depth = 0;
  do {
    if (s[pos] == '"') {
      pos = SkipString(s, pos);
      continue;
    }
    if (s[pos] == '{' || s[pos] == '[') ++depth;
    if (s[pos] == '}' || s[pos] == ']') --depth;
    ++pos;
  } while (depth > 0);
  return pos;
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

std::string MergeRenderedObjects(const std::vector<std::string_view>& objects) {
  thread_local std::vector<RenderedMember> members;
  thread_local std::string keys;  // keys with escapes, decoded
  members.clear();
  keys.clear();
  size_t size = 2;
  for (std::string_view o : objects) size += o.size();
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string_view o = objects[i];
    size_t pos = 1;  // past '{'
    while (o[pos] == '"') {
      const size_t key_end = SkipString(o, pos);
      const size_t end = SkipValue(o, key_end + 1);  // past ':'
      std::string_view key = o.substr(pos + 1, key_end - pos - 2);
      if (key.find('\\') != std::string_view::npos) {
        // Rendered keys escape only what JSON requires; decoding them takes the full reader.
        std::string decoded;
        const std::string quoted(o.substr(pos, key_end - pos));
        DirectRenderer(quoted, ThreadScratch()).Key(&decoded);  // Key uses no scratch
        // Reserved before the first view into it, so the views stay valid.
        if (keys.empty()) keys.reserve(size);
        const size_t at = keys.size();
        keys.append(decoded);
        key = std::string_view(keys).substr(at, decoded.size());
      }
      members.push_back({key, o.substr(pos, end - pos), i});
      pos = end + (o[end] == ',' ? 1 : 0);
    }
  }
  // Equal keys in object order, so the last of each run is the one that stays.
  std::stable_sort(members.begin(), members.end(),
                   [](const RenderedMember& a, const RenderedMember& b) { return a.key < b.key; });
  std::string out;
  out.reserve(size);
  out.push_back('{');
  for (size_t i = 0; i < members.size(); ++i) {
    if (i + 1 < members.size() && members[i + 1].key == members[i].key) continue;
    if (out.size() > 1) out.push_back(',');
    out.append(members[i].text);
  }
  out.push_back('}');
  if (members.capacity() > kKeptMembers) std::vector<RenderedMember>().swap(members);
  if (keys.capacity() > kKeptBufferBytes) std::string().swap(keys);
  return out;
}

std::string WrapRenderedObject(std::string_view key, std::string_view rendered) {
  std::string out;
  out.reserve(key.size() + rendered.size() + 8);
  out.push_back('{');
  AppendJsonString(key, &out);
  out.push_back(':');
  out.append(rendered);
  out.push_back('}');
  return out;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the bytes not written yet
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    out->push_back('\\');
    // nlohmann's short escapes, else \u00XX.
    static constexpr std::string_view kRaw("\"\\\b\t\n\f\r", 7), kShort = "\"\\btnfr";
    if (const size_t k = kRaw.find(static_cast<char>(c)); k != std::string_view::npos) {
      out->push_back(kShort[k]);
      continue;
    }
    out->append("u00");
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 0xF]);
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

bool RenderJsonObjectDirect(std::string_view body, std::string* out) {
  if (body.size() > kMaxDirectBytes) return false;
  Scratch& scratch = ThreadScratch();
  out->clear();
  out->reserve(body.size() + 16);
  const bool rendered = DirectRenderer(body, scratch).Document(out);
  scratch.Trim();
  return rendered;
}

}  // namespace sluice::encoding
