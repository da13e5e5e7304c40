#pragma once

// The admin API's bearer token. It guards the calls that change or reveal the gateway (Drain,
// Resume, Reload, GetConfig) and, with `require_token_for_all`, every admin.Admin call. It comes from an
// environment variable or a file named in the config, is read once at start, and is never logged
// or put in an error message.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/config/config.h"

namespace sluice::admin {

// Reads the token `config` points at: the variable `token_env` when it is set and non-empty,
// else the file `token_file` (surrounding whitespace trimmed). nullopt when neither is
// configured. An error when one is configured but yields nothing: an admin API that silently
// lost its token would be open to anyone who can reach it.
absl::StatusOr<std::optional<std::string>> ResolveToken(
    const config::AdminConfig& config, config::EnvLookup env = &config::ProcessEnv);

// Which calls need the token.
enum class CallClass {
  kObserve,     // Status, GetMetrics, Health: only with require_token_for_all
  kPrivileged,  // Drain, Resume, Reload, GetConfig: whenever a token is configured
};

class TokenPolicy {
 public:
  // No token configured: every call is allowed.
  TokenPolicy() = default;
  TokenPolicy(std::string token, bool require_for_all);

  bool Required(CallClass call) const;

  // OK when the call needs no token or `authorization` (the value of the `authorization`
  // metadata; nullopt when absent) is "Bearer <token>" (scheme case-insensitive). Otherwise
  // UNAUTHENTICATED, with a message that names neither the expected nor the given token.
  absl::Status Check(CallClass call, std::optional<std::string_view> authorization) const;

 private:
  std::optional<std::string> token_;
  bool require_for_all_ = false;
};

}  // namespace sluice::admin
