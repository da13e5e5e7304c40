#pragma once

// UTF-8 decoding shared by the XML and YAML codecs. Strict: overlong forms, surrogates and code
// points above U+10FFFF are invalid.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::encoding {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[i] into *cp and returns its length in bytes (1 to 4).
// An invalid or truncated sequence returns 0 and leaves *cp unspecified; the caller decides
// whether to fail or to replace one byte and go on.
size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp);

// Whether all of `s` is valid UTF-8.
inline bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII, most text: no call
      ++i;
      continue;
    }
    char32_t c = 0;
    const size_t n = DecodeUtf8(s, i, &c);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Appends the UTF-8 form of `cp` (which must be a valid scalar value).
void AppendUtf8(char32_t cp, std::string* out);

// Calls `fn(code_point)` for each code point of `s`; an invalid sequence yields one
// kReplacementChar per byte it skips, so escaping loops never stall or emit broken UTF-8.
template <typename Fn>
void ForEachCodePoint(std::string_view s, Fn&& fn) {
  for (size_t i = 0; i < s.size();) {
    char32_t c = 0;
    size_t n = DecodeUtf8(s, i, &c);
    if (n == 0) {
      c = kReplacementChar;
      n = 1;
    }
    i += n;
    fn(c);
  }
}

}  // namespace sluice::encoding
