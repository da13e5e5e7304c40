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

// Bytes of a rendered object: a range of the input (what is written as it came) or of the
// object's level buffer (what had to be rendered anew).
struct Piece {
  static Piece Of(size_t begin, size_t end, bool in_input) {
    return {begin, end - begin, in_input};
  }
  size_t begin;
  size_t size;
  bool in_input;
};

// One member of an object being rendered: its decoded key and its rendered value.
struct Member {
  uint64_t prefix;  // the key's first 8 bytes, big-endian, zero-padded: most keys differ there
  Piece key;
  Piece value;
  bool plain;  // the key had no escapes: its bytes need none either
};

// The first 8 bytes of `key` as a number that orders as the bytes do; `readable` bytes from
// its start may be read (at least its size).
// (The byte tricks here read 8 bytes as one little-endian number: the first byte is the lowest.)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
uint64_t OrderPrefix(std::string_view key, size_t readable) {
  uint64_t word = 0;
  if (readable >= 8) {
    std::memcpy(&word, key.data(), 8);  // one load, then the bytes past the key cleared
    if (key.size() < 8) word &= (uint64_t{1} << (8 * key.size())) - 1;
  } else {
    std::memcpy(&word, key.data(), key.size());
  }
  return __builtin_bswap64(word);
}

// In a string's bytes, which of the 8 in `word` (memory order) is the first that is not
// written as it came: below 0x20, `"`, `\` or 0x80 and up; 8 if none. A byte's flag can only
// be wrong above a flagged byte (a borrow carries upward), so the lowest one is right.
int FirstSpecialByte(uint64_t word) {
  constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
  const uint64_t flags = ((word - kOnes * 0x20) | ((word ^ kOnes * '"') - kOnes) |
                          ((word ^ kOnes * '\\') - kOnes) | word) &
                         kHighs;
  return flags == 0 ? 8 : __builtin_ctzll(flags) / 8;
}

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

  // The value at pos_, written to `out` as nlohmann writes it.
  bool Value(std::string* out, int depth) {
    SkipSpace();
    const size_t start = pos_;
    bool ok = true;
    if (PassAsItCame(&ok)) {
      out->append(in_.data() + start, pos_ - start);
      return true;
    }
    return ok && Render(out, depth);
  }

  // Passes the value at pos_ if nlohmann writes it as it came: a string without escapes (it holds
  // no `"`, `\` or control character), a literal, an integer of up to 18 digits but "-0" (JSON
  // allows no leading zeros, and such an integer fits either integer type). Any other value stays
  // at pos_ for Render (false); *ok turns false where the input is not JSON. (Inlined into both
  // callers: called out of line, the json path ran ~1,000 more instructions per request.)
  [[gnu::always_inline]] bool PassAsItCame(bool* ok) {
    const size_t start = pos_;
    bool as_it_came = false;
    switch (Peek()) {
      case '{':
      case '[':
        return false;
      case '"':
        *ok = SkipString();
        as_it_came = !escaped_;
        break;
      case 't':
      case 'f':
      case 'n':
        *ok = Literal();
        as_it_came = true;
        break;
      default: {
        bool integer = false;
        *ok = ScanNumber(&integer);
        const std::string_view number = in_.substr(start, pos_ - start);
        as_it_came = integer && number.size() <= (number[0] == '-' ? 19u : 18u) && number != "-0";
      }
    }
    if (!*ok) return false;
    if (!as_it_came) pos_ = start;
    return as_it_came;
  }

  // The value at pos_ that PassAsItCame left: an object, an array, a string with escapes (decoded,
  // then written as nlohmann writes it) or a number nlohmann prints anew.
  bool Render(std::string* out, int depth) {
    switch (Peek()) {
      case '{':
        return Object(out, depth);
      case '[':
        return Array(out, depth);
      case '"':
        s_.text.clear();
        if (!String(&s_.text)) return false;
        AppendJsonString(s_.text, out);
        return true;
      default: {
        const size_t start = pos_;
        bool integer = false;
        return ScanNumber(&integer) && RenderNumber(start, integer, out);
      }
    }
  }

  // Past `true`, `false` or `null` at pos_.
  bool Literal() {
    std::string_view word = "null";
    if (Peek() == 't') word = "true";
    if (Peek() == 'f') word = "false";
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
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
    bool all_plain = true;
    size_t bytes = 0;  // of the members' keys and values
    while (true) {
      SkipSpace();
      if (Peek() != '"') return false;
      Member m{};
      if (!MemberKey(buffer, &m)) return false;
      all_plain = all_plain && m.plain;
      SkipSpace();
      if (Peek() != ':') return false;
      ++pos_;
      if (!MemberValue(buffer, depth, &m.value)) return false;
      bytes += m.key.size + m.value.size;
      members.push_back(m);
      SkipSpace();
      const char next = Peek();
      ++pos_;
      if (next == '}') break;
      if (next != ',') return false;
    }
    if (bytes > copy_budget_) return false;
    copy_budget_ -= bytes;
    const std::string_view all = buffer;
    auto view = [this, all](const Piece& piece) {
      return std::string_view((piece.in_input ? in_ : all).data() + piece.begin, piece.size);
    };
    std::sort(members.begin(), members.end(), [&view](const Member& a, const Member& b) {
      return a.prefix != b.prefix ? a.prefix < b.prefix : view(a.key) < view(b.key);
    });
    // nlohmann keeps the last of equal keys; which one was last is gone after the sort.
    for (size_t i = 1; i < members.size(); ++i) {
      if (members[i - 1].prefix == members[i].prefix &&
          view(members[i - 1].key) == view(members[i].key)) {
        return false;
      }
    }
    if (!all_plain) {
      // The members of an object with an escaped key, in their (sorted) order.
      out->push_back('{');
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out->push_back(',');
        if (members[i].plain) {
          out->push_back('"');
          out->append(view(members[i].key));
          out->push_back('"');
        } else {
          AppendJsonString(view(members[i].key), out);
        }
        out->push_back(':');
        out->append(view(members[i].value));
      }
      out->push_back('}');
      return true;
    }
    // Keys without escapes: the object's size is known, so it is written with one resize and
    // plain copies (through std::string::append, each of its pieces paid a call and a check).
    const size_t at = out->size();
    out->resize(at + bytes + 4 * members.size() + 2);
    char* p = out->data() + at;
    auto put = [&p](std::string_view piece) {
      std::memcpy(p, piece.data(), piece.size());
      p += piece.size();
    };
    *p++ = '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) *p++ = ',';
      *p++ = '"';
      put(view(members[i].key));
      *p++ = '"';
      *p++ = ':';
      put(view(members[i].value));
    }
    *p++ = '}';
    out->resize(static_cast<size_t>(p - out->data()));
    return true;
  }

  // The key at pos_ (its opening quote): as it came, or decoded into `buffer`.
  bool MemberKey(std::string& buffer, Member* m) {
    const size_t start = pos_;
    if (!SkipString()) return false;
    m->plain = !escaped_;
    if (m->plain) {
      m->key = Piece::Of(start + 1, pos_ - 1, true);
    } else {
      const size_t at = buffer.size();
      pos_ = start;
      if (!String(&buffer)) return false;
      m->key = Piece::Of(at, buffer.size(), false);
    }
    const std::string_view from = m->plain ? in_ : std::string_view(buffer);
    m->prefix = OrderPrefix(from.substr(m->key.begin, m->key.size), from.size() - m->key.begin);
    return true;
  }

  // A member's value at pos_: where it is written as it came (PassAsItCame), its range of the
  // input; anything else rendered into `buffer`.
  bool MemberValue(std::string& buffer, int depth, Piece* value) {
    SkipSpace();
    const size_t start = pos_;
    bool ok = true;
    if (PassAsItCame(&ok)) {
      *value = Piece::Of(start, pos_, true);
      return true;
    }
    const size_t at = buffer.size();
    if (!ok || !Render(&buffer, depth + 1)) return false;
    *value = Piece::Of(at, buffer.size(), false);
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

  // Past the JSON string at pos_ (its opening quote), decoding nothing: String(nullptr).
  bool SkipString() { return String(nullptr); }

  // A JSON string at pos_ (its opening quote), decoded into `out`: escapes resolved, UTF-8
  // checked as nlohmann's lexer checks it (no overlong forms, no surrogates, at most U+10FFFF),
  // 8 bytes at a time where none needs a look. Without `out` only passed, its escapes not
  // checked: a caller that finds it had some (escaped_) decodes it again.
  bool String(std::string* out) {
    ++pos_;  // '"'
    escaped_ = false;
    const char* const data = in_.data();
    size_t run = pos_;
    while (true) {
      while (pos_ + 8 <= in_.size()) {
        uint64_t word = 0;
        std::memcpy(&word, data + pos_, 8);
        const int plain = FirstSpecialByte(word);
        pos_ += plain;
        if (plain < 8) break;
      }
      if (pos_ >= in_.size()) return false;
      const auto c = static_cast<unsigned char>(data[pos_]);
      if (c == '"') {
        if (out != nullptr) out->append(data + run, pos_ - run);
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        escaped_ = true;
        if (out == nullptr) {
          pos_ += 2;  // an escaped `"` does not end the string
          continue;
        }
        out->append(data + run, pos_ - run);
        if (!Escape(out)) return false;
        run = pos_;
        continue;
      }
      if (c < 0x80) {
        ++pos_;
        continue;
      }
      char32_t cp = 0;
      const size_t n = DecodeUtf8(in_, pos_, &cp);
      if (n == 0) return false;
      pos_ += n;
    }
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

  // Past the JSON number at pos_; *integer says it has no fraction and no exponent.
  bool ScanNumber(bool* integer) {
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    } else {
      return false;
    }
    *integer = true;
    if (Peek() == '.') {
      *integer = false;
      ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      *integer = false;
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    return true;
  }

  // The number from `start` to pos_ (which ScanNumber passed) as nlohmann stores and prints it:
  // an integer that fits int64 (negative) or uint64 as its decimal digits (so "-0" is 0),
  // anything else as the nearest double in the shortest form that reads back the same
  // (nlohmann's to_chars: "1.0", "1e+21").
  bool RenderNumber(size_t start, bool integer, std::string* out) {
    const char* first = in_.data() + start;
    const char* last = in_.data() + pos_;
    char digits[64];
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
