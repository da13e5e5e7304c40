#pragma once

// Small string helpers. Debian's Abseil is built without std::string_view support (its
// absl::string_view is a distinct type) and Beast uses boost::string_view, so the code base
// speaks std::string_view and converts at these edges.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "boost/utility/string_view.hpp"

namespace sluice {

inline std::string_view Sv(boost::string_view s) { return {s.data(), s.size()}; }
inline boost::string_view Bv(std::string_view s) { return {s.data(), s.size()}; }

// Copies `n` bytes between buffers that do not overlap; with `n` 0 it touches neither pointer
// (either may be null). Header names and values are mostly shorter than 32 bytes: two
// overlapping moves of a fixed size copy them inline, where memcpy's call (and the registers
// saved around it) cost more than the copy.
inline void CopyBytes(char* dst, const char* src, size_t n) {
  if (n > 32) {
    std::memcpy(dst, src, n);
  } else if (n >= 16) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  }
}

inline bool ParseUint(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = v;
  return true;
}

// Without HTTP's optional whitespace (spaces and tabs, RFC 9110 section 5.6.3) at either end.
inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `f` with each element of a comma-separated field value (Connection, Upgrade,
// Transfer-Encoding), without its optional whitespace, skipping empty ones.
template <typename F>
void ForEachListItem(std::string_view list, F&& f) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// ASCII case-insensitive equality. (Not Beast's iequals: in Boost 1.74 it reads one byte past
// both strings when they differ in case.)
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
                            absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Whether the comma-separated field value `list` names `token`, ignoring case.
inline bool ListsToken(std::string_view list, std::string_view token) {
  bool found = false;
  ForEachListItem(list,
                  [&](std::string_view item) { found = found || EqualsIgnoreCase(item, token); });
  return found;
}

// Decodes %XX escapes; malformed escapes are kept literally. '+' is not special (paths,
// grpc-message); query strings treat it themselves.
inline std::string PercentDecode(std::string_view in) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

}  // namespace sluice
