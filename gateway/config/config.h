#pragma once

// The immutable configuration model. A KrakenD file (format version 2 or 3) is parsed once into
// these structs; every later stage reads them and never the JSON again. Components' namespaces
// (extra_config) are parsed into typed structs by components::ParseComponents, right after.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config/reader.h"
#include "nlohmann/json.hpp"

namespace sluice::config {

// How the gateway decodes a backend's body (KrakenD backend `encoding`).
enum class BackendEncoding { kJson, kSafeJson, kString, kNoOp, kXml, kRss };

// How the gateway renders an endpoint's answer (KrakenD `output_encoding`).
enum class OutputEncoding { kJson, kJsonCollection, kString, kXml, kYaml, kNegotiate, kNoOp };

std::string_view ToString(BackendEncoding e);
std::string_view ToString(OutputEncoding e);

// One entry of a backend `host` list, e.g. "http://127.0.0.1:8080" or "localhost:9000".
struct HostAddress {
  std::string scheme = "http";  // "http" or "https" (https is parsed but not served yet)
  std::string host;             // name or IP literal, without brackets
  uint16_t port = 80;
  std::string original;  // as written in the file, for messages
};

// An allow-list of query strings or headers. `all` is set by ["*"].
struct AllowList {
  bool all = false;
  std::vector<std::string> names;  // headers: stored lower-case; query strings: as written
  bool empty() const { return !all && names.empty(); }
};

struct Backend {
  std::string json_path;  // "endpoints[3].backend[0]", for messages
  std::vector<HostAddress> hosts;
  std::string url_pattern;  // may contain {param} and {respN_field} placeholders
  std::string method;       // upper-case; defaults to the endpoint's method
  BackendEncoding encoding = BackendEncoding::kJson;
  std::string sd = "static";       // "static", "dns" or "dns-shared"
  std::string sd_scheme = "http";  // scheme of hosts found by DNS SRV (v3 `sd_scheme`)
  bool is_collection = false;
  bool disable_host_sanitize = false;
  // A host's scheme Sluice has no client for (ws, amqp, gcppubsub...; kept under
  // disable_host_sanitize as KrakenD keeps it): the endpoint answers 501.
  std::string unsupported_scheme;
  std::string target;                            // dot path to extract
  std::string group;                             // wrap under this key
  std::vector<std::string> allow;                // dot paths (v2 `whitelist` maps here)
  std::vector<std::string> deny;                 // dot paths (v2 `blacklist` maps here)
  std::map<std::string, std::string> mapping;    // rename top-level keys
  std::optional<AllowList> input_headers;        // second-level filter (v3 only)
  std::optional<AllowList> input_query_strings;  // second-level filter (v3 only)
  // The extra_config object as written, keyed by v3 namespace (v2 names renamed on load). Read
  // once, by components::ParseComponents; everything after reads `components`.
  nlohmann::json extra_config = nlohmann::json::object();
  ComponentConfigs components;  // typed, by namespace (gateway/components/)
};

struct Endpoint {
  std::string json_path;  // "endpoints[3]"
  std::string path;       // "/users/{id}"
  std::string method = "GET";
  std::vector<Backend> backends;
  int concurrent_calls = 1;
  absl::Duration timeout;         // inherits the service timeout
  absl::Duration cache_ttl;       // zero: no Cache-Control header
  AllowList input_query_strings;  // v2 `querystring_params`
  AllowList input_headers;        // v2 `headers_to_pass`
  OutputEncoding output_encoding = OutputEncoding::kJson;
  std::vector<std::string> params;  // names of the {param} segments of `path`, in order
  nlohmann::json extra_config = nlohmann::json::object();  // as for Backend
  ComponentConfigs components;
};

// Upper bounds of numeric settings, checked by `sluice check` (a value past them is a typo or
// would disable the protection the setting exists for).
// Request headers are held in memory whole per connection; Beast counts them in 32 bits.
inline constexpr uint64_t kMaxHeaderBytesLimit = 64u << 20;
// Request bodies are held in memory whole until forwarded.
inline constexpr uint64_t kMaxBodyBytesLimit = 1u << 30;
// Each copy is one more backend call per request: more than this multiplies load, not speed.
inline constexpr int64_t kMaxConcurrentCalls = 64;
// sluice/http.max_connections: far beyond any file-descriptor limit; a larger value is a typo.
inline constexpr int64_t kMaxConnectionsLimit = 1 << 24;
// sluice/http.max_buffered_request_bytes: 1 MiB to 1 TiB.
inline constexpr int64_t kMinBufferedRequestBytes = int64_t{1} << 20;
inline constexpr int64_t kMaxBufferedRequestBytes = int64_t{1} << 40;
// Default shutdown bound: after the longest endpoint timeout every handler has answered; the
// grace lets the answers be written. Never less than the minimum, so slow clients get a chance.
inline constexpr absl::Duration kShutdownGrace = absl::Seconds(5);
inline constexpr absl::Duration kMinShutdownWait = absl::Seconds(10);

// Logging component (`telemetry/logging`, v2 `github_com/devopsfaith/krakend-gologging`).
struct Logging {
  std::string level = "INFO";  // DEBUG, INFO, WARNING, ERROR, CRITICAL
  bool access_log = true;      // `router.disable_access_log` turns it off
};

// Sluice-specific server settings (`extra_config."sluice/http"`).
struct ServerTuning {
  int workers = 0;  // 0: one per CPU core
  // Largest request body accepted (413 beyond). 10 MiB: generous for JSON APIs, small enough
  // that a few hostile clients cannot exhaust memory.
  uint64_t max_body_bytes = 10 * 1024 * 1024;
  // Per-request metrics (counters, histograms). On by default; off only to measure their cost.
  bool metrics = true;
  // Client connections (HTTP/1.1 and HTTP/2) open at once; at the limit the listener stops
  // accepting until one closes. 0: derived from RLIMIT_NOFILE at start (http::
  // DefaultMaxConnections), leaving room for backend sockets.
  int64_t max_connections = 0;
  // Request heads and bodies HTTP/2 streams hold at once, whole process (503 beyond). 0: 256 MiB
  // or four of the largest requests (http::DefaultMaxBufferedRequestBytes).
  uint64_t max_buffered_request_bytes = 0;
};

// Configuration reloads (`extra_config."sluice/reload"`). SIGHUP and admin.Admin/Reload always
// reload; `watch` also reloads when the file changes (checked every `interval`: the path is
// followed through symlinks, so a Kubernetes ConfigMap's `..data` swap is seen).
struct ReloadSettings {
  bool watch = false;
  absl::Duration interval = absl::Seconds(1);
};

// Where a listener binds: an IP literal and a port (0: the kernel picks one, for tests).
struct ListenAddress {
  std::string ip;  // IPv4 or IPv6 literal, without brackets; "0.0.0.0" for ":PORT"
  uint16_t port = 0;
  // "127.0.0.1:9091", "[::1]:9091".
  std::string ToString() const;
};

// One certificate (PEM, its chain after it) and its private key (PEM), as file paths.
struct TlsKeyPair {
  std::string certificate;
  std::string private_key;
  std::string json_path;  // "tls.keys[0]", for messages
};

// The admin plane (`extra_config."sluice/admin"`; the metrics listener may also come from
// KrakenD's `extra_config."telemetry/metrics".listen_address`). Both listeners default to
// loopback: they expose operations (Drain) and internals (the effective config) that must not
// face the public network unless someone says so.
struct AdminConfig {
  ListenAddress address{"127.0.0.1", 9091};          // gRPC admin.Admin, health, reflection
  ListenAddress metrics_address{"127.0.0.1", 9090};  // Prometheus text format at GET /metrics
  // Where the bearer token comes from: an environment variable's name and/or a file's path (the
  // variable wins when set and non-empty). Neither: no token. The token itself never enters the
  // config model, so GetConfig cannot reveal it.
  std::string token_env;
  std::string token_file;
  // With a token: also require it on Status, GetMetrics and Health (always on Drain, Resume and
  // GetConfig). grpc.health.v1 and reflection stay open: probes carry no credentials.
  bool require_token_for_all = false;
  // `tls` {public_key, private_key, client_ca}: the gRPC admin listener over TLS (for operators
  // who reach it across hosts); with client_ca, only clients with a certificate it signed.
  // Absent: plaintext (loopback by default).
  TlsKeyPair tls;
  std::string tls_client_ca;
};

// TLS versions as OpenSSL numbers (TLS1_2_VERSION = 0x0303, TLS1_3_VERSION = 0x0304).
inline constexpr int kTls12 = 0x0303;
inline constexpr int kTls13 = 0x0304;

// What the listener (`tls`) and the backends (`client_tls`) share. KrakenD's defaults: a version
// key unset or unknown means TLS 1.3, so a `tls` or `client_tls` object alone means 1.3 only.
struct TlsSettings {
  int min_version = kTls13;
  int max_version = kTls13;
  // Go's cipher-suite and curve IDs as written. Empty: Go's (and KrakenD's) defaults, six ECDHE
  // AES-GCM and ChaCha20 suites for TLS 1.2 (TLS 1.3's suites are fixed), curves P-521, P-384,
  // P-256.
  std::vector<uint16_t> cipher_suites;
  std::vector<uint16_t> curve_preferences;
  // Trusted CAs added to the system's pool (or instead of it with disable_system_ca_pool).
  std::vector<std::string> ca_certs;
  bool disable_system_ca_pool = false;
  std::string json_path;  // "tls", "client_tls"
  // The key that named the CA files, when it is not `ca_certs` (the admin's `client_ca`).
  std::string ca_certs_key;
};

// The public port's `tls`. When enabled the port speaks only TLS (HTTP/1.1 and h2 by ALPN).
struct ListenerTls : TlsSettings {
  bool enabled = false;
  std::vector<TlsKeyPair> keys;  // `keys[]`, then the legacy top-level public_key/private_key
  bool enable_mtls = false;      // require a client certificate signed by a trusted CA
};

// `client_tls`: how Sluice calls https:// backends. Absent: Go's client defaults (TLS 1.2 and
// 1.3, the system CA pool).
struct ClientTls : TlsSettings {
  ClientTls() { min_version = kTls12; }
  bool configured = false;
  bool allow_insecure_connections = false;  // no certificate verification (logged at start)
  std::vector<TlsKeyPair> client_certs;     // certificates offered to backends asking for one
};

struct ServiceConfig {
  int version = 3;
  std::string name;
  uint16_t port = 8080;
  std::string listen_ip;  // empty: all interfaces
  std::vector<HostAddress> host;
  absl::Duration timeout = absl::Seconds(2);
  absl::Duration cache_ttl;
  OutputEncoding output_encoding = OutputEncoding::kJson;
  // HTTP server limits. Named defaults (KrakenD leaves most unbounded; we do not):
  absl::Duration read_timeout = absl::Seconds(30);         // whole request body
  absl::Duration write_timeout = absl::Seconds(30);        // whole response
  absl::Duration idle_timeout = absl::Seconds(90);         // keep-alive wait for the next request
  absl::Duration read_header_timeout = absl::Seconds(10);  // slowloris bound
  uint64_t max_header_bytes = 1 << 20;                     // Go's http.DefaultMaxHeaderBytes
  // Longest drain on SIGTERM. Absent or zero: the longest endpoint timeout plus
  // kShutdownGrace, at least kMinShutdownWait (a client that never finishes, e.g. one that
  // PINGs an open stream, must not hold the process forever).
  absl::Duration max_shutdown_wait_time;
  bool debug_endpoint = false;
  // Cleartext HTTP/2 on the public port, next to HTTP/1.1 (prior knowledge or Upgrade: h2c).
  bool use_h2c = false;
  bool hide_version_header = false;  // router.hide_version_header
  Logging logging;
  ServerTuning tuning;
  AdminConfig admin;
  ReloadSettings reload;
  nlohmann::json extra_config = nlohmann::json::object();  // as for Backend
  ComponentConfigs components;
  std::vector<Endpoint> endpoints;
  ListenerTls tls;
  ClientTls client_tls;
  // Protections the file configures that Sluice does not enforce, each as its JSON path ("tls",
  // `endpoints[0].extra_config."auth/validator"`). Non-empty only when the file was loaded with
  // --allow-unprotected; listed at start and by the admin Status call.
  std::vector<std::string> unprotected;

  // Provenance, reported by `sluice check -d` and the admin API.
  std::string file_path;
  std::string sha256_hex;  // of the file's bytes as read
  absl::Time loaded_at;
  // Effective config after env overrides, as compact JSON text: read by the admin GetConfig call
  // and by a reload's comparison, which parse it again. Kept as text, not as nlohmann's tree: with
  // 1,000 endpoints the tree held ~1 MB for the life of the process, the text a quarter of that.
  std::string effective_json;
  // The text parsed again; null for a config not read from a file (built in code, as in tests).
  nlohmann::json effective() const {
    if (effective_json.empty()) return nullptr;
    nlohmann::json parsed =
        nlohmann::json::parse(effective_json, nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? nullptr : parsed;
  }
};

// Everything a parse produced. `config` is set iff `errors` is empty.
struct LoadResult {
  std::shared_ptr<const ServiceConfig> config;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> lint;  // unknown keys (reported only by `check --lint`)
  // KrakenD components the file configures that Sluice does not implement (JWT validation, rate
  // limits, CORS...): the file loads, but they have no effect. Reported by check and at start.
  std::vector<Diagnostic> warnings;
};

// Source of environment overrides (SLUICE_NAME, SLUICE_PORT, SLUICE_TIMEOUT, SLUICE_ADMIN_ADDRESS,
// SLUICE_METRICS_ADDRESS). Injected so tests do not touch the process environment.
using EnvLookup = std::optional<std::string> (*)(const char* name);
std::optional<std::string> ProcessEnv(const char* name);

// Parses the components' namespaces of a parsed config into typed configs (`components` of the
// service, each endpoint and backend), before the config is frozen. Injected by the component
// registry (gateway/components/registry.h), which the config library cannot depend on.
using ComponentParser = void (*)(ServiceConfig* config, Diagnostics* out);

// Parses and validates `bytes` (the content of `file_path`), then its components with
// `components` when given. Reports every error, never throws.
LoadResult ParseConfig(std::string_view bytes, std::string_view file_path,
                       EnvLookup env = &ProcessEnv, ComponentParser components = nullptr);

// Largest configuration file read. A KrakenD file with 1,000 endpoints is about 1 MB; parsing
// costs ~5x the file size in memory, so a 300 MB file would take 1.5 GB before being refused.
inline constexpr uint64_t kMaxConfigFileBytes = 16u << 20;

// `{input_headers.Name}` or `{input_query_strings.name}` (KrakenD 2.x dynamic routing).
bool IsInputPlaceholder(std::string_view name);
// The distinct input placeholders of an endpoint's url_patterns, in order of first use.
std::vector<std::string> InputPlaceholders(const Endpoint& endpoint);

// `{JWT.claim}` in a url_pattern: the claim's name has letters, digits and `_ . : / -` (so
// `JWT.http://example.com/tenant` is one).
bool IsJwtPlaceholder(std::string_view name);
// The distinct {JWT.claim} placeholders ("JWT.sub", ...) of an endpoint's backends' url_patterns,
// in order of first appearance: auth/validator fills them, after the endpoint's {params}.
std::vector<std::string> JwtPlaceholders(const Endpoint& endpoint);

// Reads a whole regular file of at most `max_bytes` (checked through the opened descriptor). The
// error says why: missing, unreadable, a directory, device or pipe, or too large.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes);

// Reads `file_path` and parses it. A missing or unreadable file, one that is not a regular file
// (a directory, device, pipe) or one over kMaxConfigFileBytes is an error naming the reason.
LoadResult LoadConfigFile(const std::string& file_path, EnvLookup env = &ProcessEnv,
                          ComponentParser components = nullptr);

// Formats a diagnostic as "FILE: PATH: MESSAGE".
std::string FormatDiagnostic(std::string_view file_path, const Diagnostic& d);

// Human-readable summary for `sluice check -d`: endpoints, methods, timeouts, hosts.
std::string Describe(const ServiceConfig& config);

}  // namespace sluice::config
