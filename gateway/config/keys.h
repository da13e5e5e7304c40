#pragma once

// The keys a config file may hold at each level: what `check --lint` reports as unknown, with a
// hint when a key belongs to the other format version.

#include "absl/strings/string_view.h"

namespace sluice::config {

// Keys known at each level. Those after "Ignored:" are documented KrakenD keys Sluice accepts
// without acting on them: a KrakenD file that uses them loads, and lint stays quiet about them.
inline constexpr absl::string_view kServiceKeys[] = {
    "version", "name", "port", "listen_ip", "host", "timeout", "cache_ttl", "output_encoding",
    "read_timeout", "write_timeout", "idle_timeout", "read_header_timeout", "max_header_bytes",
    "max_shutdown_wait_time", "debug_endpoint", "use_h2c", "extra_config", "endpoints",
    "tls", "client_tls", "allow_insecure_connections",
    // Ignored:
    "disable_keep_alives", "disable_compression", "max_idle_connections",
    "max_idle_connections_per_host", "idle_connection_timeout", "response_header_timeout",
    "expect_continue_timeout", "dialer_timeout", "dialer_fallback_delay", "dialer_keep_alive",
    "plugin", "echo_endpoint", "disable_rest", "disable_strict_rest",
    "dns_cache_ttl", "async_agent", "sequential_start"};
inline constexpr absl::string_view kEndpointKeys[] = {
    "endpoint", "method",    "backend",         "concurrent_calls",
    "timeout",  "cache_ttl", "output_encoding", "extra_config"};
inline constexpr absl::string_view kEndpointKeysV3[] = {"input_query_strings", "input_headers"};
inline constexpr absl::string_view kEndpointKeysV2[] = {"querystring_params", "headers_to_pass"};
inline constexpr absl::string_view kBackendKeys[] = {
    "host", "url_pattern", "method", "encoding", "sd", "sd_scheme", "group", "target", "mapping",
    // Field filters and flags:
    "allow", "deny", "is_collection", "disable_host_sanitize", "extra_config"};
inline constexpr absl::string_view kBackendKeysV3[] = {"input_headers", "input_query_strings"};
inline constexpr absl::string_view kBackendKeysV2[] = {"whitelist", "blacklist"};

// Sluice owns this namespace entirely, so unlike other components its keys are linted (a typo
// such as "adress" would otherwise silently leave the default).
inline constexpr absl::string_view kAdminKeys[] = {"address", "metrics_address", "token_env",
                                                   "token_file", "require_token_for_all", "tls"};

// A key that belongs to the other format version: explained rather than just flagged.
struct KeyHint {
  absl::string_view key;
  absl::string_view hint;
};
inline constexpr KeyHint kEndpointHintsV3[] = {
    {"headers_to_pass", "version 2 name; version 3 uses input_headers"},
    {"querystring_params", "version 2 name; version 3 uses input_query_strings"}};
inline constexpr KeyHint kEndpointHintsV2[] = {
    {"input_headers", "version 3 name; version 2 uses headers_to_pass"},
    {"input_query_strings", "version 3 name; version 2 uses querystring_params"}};
inline constexpr KeyHint kBackendHintsV3[] = {{"whitelist", "version 2 name; version 3 uses allow"},
                                              {"blacklist", "version 2 name; version 3 uses deny"}};
inline constexpr KeyHint kBackendHintsV2[] = {{"input_headers", "only in version 3"},
                                              {"input_query_strings", "only in version 3"}};

}  // namespace sluice::config
