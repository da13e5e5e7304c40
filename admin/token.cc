#include "admin/token.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/strings.h"

namespace sluice::admin {
namespace {

// Longest token file read: tokens are short; a huge file is a misconfiguration (wrong path).
constexpr std::streamsize kMaxTokenFileBytes = 4096;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// Compares without an early exit, so the time taken does not reveal how long a prefix of a
// guess was right (it still reveals the length, which is not the secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^
            static_cast<unsigned char>(b.empty() ? 0 : b[i % b.size()]);
  }
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ResolveToken(const config::AdminConfig& config,
                                                        config::EnvLookup env) {
  if (config.token_env.empty() && config.token_file.empty()) return std::nullopt;
  if (!config.token_env.empty() && env != nullptr) {
    if (std::optional<std::string> v = env(config.token_env.c_str())) {
      std::string_view token = TrimSpace(*v);
      if (!token.empty()) return std::string(token);
    }
  }
  if (config.token_file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("admin token: environment variable ", config.token_env,
                     " (extra_config.\"sluice/admin\".token_env) is unset or empty"));
  }
  std::ifstream in(config.token_file, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "admin token: cannot read token_file ", config.token_file, ": ", std::strerror(errno)));
  }
  std::string bytes(kMaxTokenFileBytes + 1, '\0');
  in.read(bytes.data(), kMaxTokenFileBytes + 1);
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > static_cast<size_t>(kMaxTokenFileBytes)) {
    return absl::FailedPreconditionError(absl::StrCat("admin token: token_file ", config.token_file,
                                                      " is larger than ", kMaxTokenFileBytes,
                                                      " bytes"));
  }
  std::string_view token = TrimSpace(bytes);
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("admin token: token_file ", config.token_file, " is empty"));
  }
  return std::string(token);
}

TokenPolicy::TokenPolicy(std::string token, bool require_for_all)
    : token_(std::move(token)), require_for_all_(require_for_all) {}

bool TokenPolicy::Required(CallClass call) const {
  return token_.has_value() && (call == CallClass::kPrivileged || require_for_all_);
}

absl::Status TokenPolicy::Check(CallClass call,
                                std::optional<std::string_view> authorization) const {
  if (!Required(call)) return absl::OkStatus();
  if (!authorization) {
    return absl::UnauthenticatedError(
        "this call needs the admin token: send metadata \"authorization: Bearer <token>\"");
  }
  // RFC 6750: "Bearer" 1*SP token; the scheme is case-insensitive (RFC 7235).
  constexpr std::string_view kScheme = "bearer ";
  std::string_view value = TrimSpace(*authorization);
  if (value.size() < kScheme.size() ||
      !EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError("authorization metadata is not \"Bearer <token>\"");
  }
  if (!ConstantTimeEquals(TrimSpace(value.substr(kScheme.size())), *token_)) {
    return absl::UnauthenticatedError("wrong admin token");
  }
  return absl::OkStatus();
}

}  // namespace sluice::admin
