#pragma once

// Small text helpers shared by the files of the config library; not part of its API.

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gateway/config/reader.h"

namespace sluice::config {

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0): convert at
// the API boundary.
inline absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdView(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

inline std::string DurationError(absl::string_view text) {
  if (!text.empty() && text.front() == '-' && ParseDuration(StdView(text.substr(1)))) {
    return absl::StrCat("negative duration ", Quote(text), " is not allowed");
  }
  return absl::StrCat("malformed duration ", Quote(text),
                      " (use Go syntax such as \"2s\", \"1500ms\")");
}

}  // namespace sluice::config
