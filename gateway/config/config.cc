#include "gateway/config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "gateway/config/namespaces.h"

namespace sluice::config {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Names and tables.

constexpr absl::string_view kMethods[] = {"GET",    "POST", "PUT",    "PATCH",
                                          "DELETE", "HEAD", "OPTIONS"};
constexpr absl::string_view kLogLevels[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
constexpr absl::string_view kServiceDiscovery[] = {"static", "dns", "dns-shared"};
// Paths the gateway serves itself (Lura rejects endpoints that shadow them).
constexpr absl::string_view kReservedPaths[] = {"/__health", "/__debug", "/__echo"};
// Keys starting with one of these are comments or editor hints (the KrakenD schema allows them at
// every level via "patternProperties": {"^[@$_#]": true}).
constexpr absl::string_view kCommentPrefixes = "@$_#";

// Keys known at each level. Those after "Ignored:" are documented KrakenD keys Sluice accepts
// without acting on them: a KrakenD file that uses them loads, and lint stays quiet about them.
constexpr absl::string_view kServiceKeys[] = {
    "version", "name", "port", "listen_ip", "host", "timeout", "cache_ttl", "output_encoding",
    "read_timeout", "write_timeout", "idle_timeout", "read_header_timeout", "max_header_bytes",
    "max_shutdown_wait_time", "debug_endpoint", "use_h2c", "extra_config", "endpoints",
    // Ignored:
    "disable_keep_alives", "disable_compression", "max_idle_connections",
    "max_idle_connections_per_host", "idle_connection_timeout", "response_header_timeout",
    "expect_continue_timeout", "dialer_timeout", "dialer_fallback_delay", "dialer_keep_alive",
    "tls", "client_tls", "plugin", "echo_endpoint", "disable_rest", "disable_strict_rest",
    "dns_cache_ttl", "async_agent", "sequential_start"};
constexpr absl::string_view kEndpointKeys[] = {"endpoint",         "method",      "backend",
                                               "concurrent_calls", "timeout",     "cache_ttl",
                                               "output_encoding",  "extra_config"};
constexpr absl::string_view kEndpointKeysV3[] = {"input_query_strings", "input_headers"};
constexpr absl::string_view kEndpointKeysV2[] = {"querystring_params", "headers_to_pass"};
constexpr absl::string_view kBackendKeys[] = {
    "host", "url_pattern", "method", "encoding", "sd", "sd_scheme", "group", "target", "mapping",
    // Field filters and flags:
    "allow", "deny", "is_collection", "disable_host_sanitize", "extra_config"};
constexpr absl::string_view kBackendKeysV3[] = {"input_headers", "input_query_strings"};
constexpr absl::string_view kBackendKeysV2[] = {"whitelist", "blacklist"};

// Sluice owns this namespace entirely, so unlike other components its keys are linted (a typo
// such as "adress" would otherwise silently leave the default).
constexpr absl::string_view kAdminKeys[] = {"address", "metrics_address", "token_env", "token_file",
                                            "require_token_for_all"};

// A key that belongs to the other format version: explained rather than just flagged.
struct KeyHint {
  absl::string_view key;
  absl::string_view hint;
};
constexpr KeyHint kEndpointHintsV3[] = {
    {"headers_to_pass", "version 2 name; version 3 uses input_headers"},
    {"querystring_params", "version 2 name; version 3 uses input_query_strings"}};
constexpr KeyHint kEndpointHintsV2[] = {
    {"input_headers", "version 3 name; version 2 uses headers_to_pass"},
    {"input_query_strings", "version 3 name; version 2 uses querystring_params"}};
constexpr KeyHint kBackendHintsV3[] = {{"whitelist", "version 2 name; version 3 uses allow"},
                                       {"blacklist", "version 2 name; version 3 uses deny"}};
constexpr KeyHint kBackendHintsV2[] = {{"input_headers", "only in version 3"},
                                       {"input_query_strings", "only in version 3"}};

template <typename List>
bool Contains(const List& list, absl::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0): convert at
// the API boundary.
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view StdView(absl::string_view s) { return std::string_view(s.data(), s.size()); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Join(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Members that are absent or null are treated alike, as Go's encoding/json does.
const Json* Find(const Json& obj, absl::string_view key) {
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<BackendEncoding> BackendEncodingFromName(absl::string_view s) {
  // fast-json is KrakenD EE's faster JSON decoder; same semantics.
  if (s == "json" || s == "fast-json") return BackendEncoding::kJson;
  if (s == "safejson") return BackendEncoding::kSafeJson;
  if (s == "string") return BackendEncoding::kString;
  if (s == "no-op") return BackendEncoding::kNoOp;
  if (s == "xml") return BackendEncoding::kXml;
  if (s == "rss") return BackendEncoding::kRss;
  return std::nullopt;
}

std::optional<OutputEncoding> OutputEncodingFromName(absl::string_view s) {
  if (s == "json" || s == "fast-json") return OutputEncoding::kJson;
  if (s == "json-collection") return OutputEncoding::kJsonCollection;
  if (s == "string") return OutputEncoding::kString;
  if (s == "xml") return OutputEncoding::kXml;
  if (s == "yaml") return OutputEncoding::kYaml;
  if (s == "negotiate") return OutputEncoding::kNegotiate;
  if (s == "no-op") return OutputEncoding::kNoOp;
  return std::nullopt;
}

std::string DurationError(absl::string_view text) {
  if (!text.empty() && text.front() == '-' && ParseDuration(StdView(text.substr(1)))) {
    return absl::StrCat("negative duration ", Quote(text), " is not allowed");
  }
  return absl::StrCat("malformed duration ", Quote(text),
                      " (use Go syntax such as \"2s\", \"1500ms\")");
}

// Digits only, 1..65535.
std::optional<uint16_t> ParsePort(absl::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

bool ValidHostName(absl::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// Accepts what KrakenD's host sanitiser accepts: `(http|https)://`? name-or-IP (`:port`)?, with
// IPv6 literals in brackets. Sets `why` and returns false otherwise.
bool ParseHost(absl::string_view text, HostAddress* out, std::string* why) {
  out->original = std::string(text);
  absl::string_view rest = text;
  out->scheme = "http";
  if (size_t sep = rest.find("://"); sep != absl::string_view::npos) {
    out->scheme = absl::AsciiStrToLower(rest.substr(0, sep));
    if (out->scheme != "http" && out->scheme != "https") {
      *why = absl::StrCat("unsupported scheme ", Quote(out->scheme), " (use http or https)");
      return false;
    }
    rest.remove_prefix(sep + 3);
  }
  out->port = out->scheme == "https" ? 443 : 80;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) {
    *why = "no host name";
    return false;
  }
  if (rest.find_first_of("/?#") != absl::string_view::npos) {
    *why = "a host must not contain a path (put it in url_pattern)";
    return false;
  }
  absl::string_view name = rest;
  std::optional<absl::string_view> port_text;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      *why = "unclosed '[' in IPv6 address";
      return false;
    }
    name = rest.substr(1, close - 1);
    absl::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *why = absl::StrCat("unexpected ", Quote(after), " after ']'");
        return false;
      }
      port_text = after.substr(1);
    }
    in6_addr addr;
    if (inet_pton(AF_INET6, std::string(name).c_str(), &addr) != 1) {
      *why = absl::StrCat("invalid IPv6 address ", Quote(name));
      return false;
    }
  } else {
    size_t colon = rest.rfind(':');
    if (colon != absl::string_view::npos) {
      if (rest.find(':') != colon) {
        *why = "an IPv6 address must be in brackets, e.g. \"[::1]:8080\"";
        return false;
      }
      name = rest.substr(0, colon);
      port_text = rest.substr(colon + 1);
    }
    if (!ValidHostName(name)) {
      *why = absl::StrCat("invalid host name ", Quote(name));
      return false;
    }
  }
  if (port_text) {
    std::optional<uint16_t> port = ParsePort(*port_text);
    if (!port) {
      *why = absl::StrCat("invalid port ", Quote(*port_text), " (want 1..65535)");
      return false;
    }
    out->port = *port;
  }
  out->host = std::string(name);
  return true;
}

// "IP:PORT", "[IPv6]:PORT", "localhost:PORT" or ":PORT" (all interfaces, as Go's net.Listen
// reads it, so KrakenD's ":8090" loads). Port 0 asks the kernel for a free one. Other host names
// are refused: a listener binds an address, and a name could resolve to several.
bool ParseListenAddress(absl::string_view text, ListenAddress* out, std::string* why) {
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    *why = "missing \":PORT\"";
    return false;
  }
  absl::string_view host = text.substr(0, colon);
  absl::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit) ||
      std::stoi(std::string(port)) > 65535) {
    *why = absl::StrCat("invalid port ", Quote(port), " (want 0..65535; 0 picks a free port)");
    return false;
  }
  out->port = static_cast<uint16_t>(std::stoi(std::string(port)));
  if (host.empty()) {
    out->ip = "0.0.0.0";
    return true;
  }
  if (host == "localhost") {
    out->ip = "127.0.0.1";
    return true;
  }
  in_addr v4;
  in6_addr v6;
  if (host.front() == '[' && host.back() == ']' && host.size() > 2) {
    std::string inner(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, inner.c_str(), &v6) != 1) {
      *why = absl::StrCat("invalid IPv6 address ", Quote(inner));
      return false;
    }
    out->ip = inner;
    return true;
  }
  if (host.find(':') != absl::string_view::npos) {
    *why = "an IPv6 address must be in brackets, e.g. \"[::1]:9091\"";
    return false;
  }
  if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
    *why = absl::StrCat(Quote(host), " is not an IP address (use e.g. \"127.0.0.1:9091\")");
    return false;
  }
  out->ip = std::string(host);
  return true;
}

bool SameListener(const ListenAddress& a, const ListenAddress& b) {
  return a.port != 0 && a.port == b.port && a.ip == b.ip;
}

// POSIX-portable environment variable names.
bool ValidEnvName(absl::string_view name) {
  return !name.empty() && !IsDigit(name.front()) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

std::string HostUrl(const HostAddress& h) {
  bool v6 = h.host.find(':') != std::string::npos;
  return absl::StrCat(h.scheme, "://", v6 ? "[" : "", h.host, v6 ? "]" : "", ":", h.port);
}

bool ValidParamName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// `{resp0_field}` (sequential proxy) and `{JWT.claim}` are filled from elsewhere than the path.
bool IsExemptPlaceholder(absl::string_view name) {
  if (absl::StartsWith(name, "JWT.")) return true;
  if (!absl::StartsWith(name, "resp")) return false;
  size_t i = 4;
  while (i < name.size() && IsDigit(name[i])) ++i;
  return i > 4 && i + 1 < name.size() && name[i] == '_';
}

bool IsReservedPath(absl::string_view path) {
  for (absl::string_view r : kReservedPaths) {
    if (path == r || absl::StartsWith(path, absl::StrCat(r, "/"))) return true;
  }
  return false;
}

// "Did you mean": the known key closest to a misspelt one (see config::SuggestKey).
std::optional<absl::string_view> Suggest(absl::string_view key,
                                         absl::Span<const absl::string_view> known) {
  std::vector<std::string_view> names;
  names.reserve(known.size());
  for (absl::string_view k : known) names.push_back(StdView(k));
  std::optional<std::string_view> s = SuggestKey(StdView(key), names);
  if (!s) return std::nullopt;
  return View(*s);
}

// Finds where nlohmann's parser stopped, without exceptions: a SAX consumer that ignores every
// event and records the error.
struct SyntaxErrorFinder {
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool key(string_t&) { return true; }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    position = pos;
    what = e.what();
    return false;
  }

  std::size_t position = 0;
  std::string what;
};

Diagnostic SyntaxError(std::string_view bytes) {
  SyntaxErrorFinder finder;
  Json::sax_parse(bytes, &finder);
  // `position` counts the characters read, the offending one included.
  size_t offset = std::min(finder.position > 0 ? finder.position - 1 : 0, bytes.size());
  size_t line = 1 + std::count(bytes.begin(), bytes.begin() + offset, '\n');
  size_t line_start = bytes.rfind('\n', offset == 0 ? 0 : offset - 1);
  line_start = (line_start == absl::string_view::npos || offset == 0) ? 0 : line_start + 1;
  size_t column = offset - line_start + 1;
  // nlohmann's text is "[json.exception.parse_error.101] parse error at line L, column C: detail".
  std::string detail = finder.what;
  if (size_t at = detail.find("parse error"); at != std::string::npos) {
    if (size_t colon = detail.find(": ", at); colon != std::string::npos) {
      detail = detail.substr(colon + 2);
    }
  }
  return {"", absl::StrCat("invalid JSON at line ", line, ", column ", column, ": ", detail)};
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

// SLUICE_ADMIN_ADDRESS and SLUICE_METRICS_ADDRESS: the admin plane's listeners, per instance
// (several instances on one host, tests), written into extra_config."sluice/admin". The metrics
// one also replaces KrakenD's telemetry/metrics.listen_address, so the two never conflict.
void ApplyAdminEnv(std::optional<std::string> admin_address,
                   std::optional<std::string> metrics_address, Json* root,
                   std::vector<Diagnostic>* errors) {
  auto valid = [errors](const char* var, const std::optional<std::string>& v) {
    if (!v) return false;
    ListenAddress parsed;
    std::string why;
    if (ParseListenAddress(*v, &parsed, &why)) return true;
    errors->push_back({"", absl::StrCat(var, ": bad listen address ", Quote(*v), ": ", why)});
    return false;
  };
  const bool set_admin = valid("SLUICE_ADMIN_ADDRESS", admin_address);
  const bool set_metrics = valid("SLUICE_METRICS_ADDRESS", metrics_address);
  if (!set_admin && !set_metrics) return;
  // Never throw: a wrongly typed extra_config or component is left for the parser to report.
  auto extra = root->find("extra_config");
  if (extra == root->end() || extra->is_null()) {
    (*root)["extra_config"] = Json::object();
    extra = root->find("extra_config");
  }
  if (!extra->is_object()) return;
  auto admin = extra->find("sluice/admin");
  if (admin == extra->end() || admin->is_null()) {
    (*extra)["sluice/admin"] = Json::object();
    admin = extra->find("sluice/admin");
  }
  if (!admin->is_object()) return;
  if (set_admin) (*admin)["address"] = *admin_address;
  if (set_metrics) {
    (*admin)["metrics_address"] = *metrics_address;
    for (auto it = extra->begin(); it != extra->end(); ++it) {
      if (CanonicalNamespace(it.key()) == "telemetry/metrics" && it->is_object() &&
          it->contains("listen_address")) {
        (*it)["listen_address"] = *metrics_address;
      }
    }
  }
}

// Writes valid SLUICE_* overrides into the top-level object, so inheritance (endpoint timeouts)
// and the `effective` rendering both see them. Empty variables count as unset.
void ApplyEnv(EnvLookup env, Json* root, std::vector<Diagnostic>* errors) {
  if (env == nullptr) return;
  auto get = [env](const char* name) -> std::optional<std::string> {
    std::optional<std::string> v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto v = get("SLUICE_NAME")) (*root)["name"] = *v;
  if (auto v = get("SLUICE_PORT")) {
    if (std::optional<uint16_t> port = ParsePort(*v)) {
      (*root)["port"] = *port;
    } else {
      errors->push_back(
          {"", absl::StrCat("SLUICE_PORT: expected a port 1..65535, got ", Quote(*v))});
    }
  }
  if (auto v = get("SLUICE_TIMEOUT")) {
    if (ParseDuration(*v)) {
      (*root)["timeout"] = *v;
    } else {
      errors->push_back({"", absl::StrCat("SLUICE_TIMEOUT: ", DurationError(*v))});
    }
  }
  ApplyAdminEnv(get("SLUICE_ADMIN_ADDRESS"), get("SLUICE_METRICS_ADDRESS"), root, errors);
}

// ---------------------------------------------------------------------------------------------
// The parser: walks the JSON once, fills the model, and records every problem on the way.

class Parser {
 public:
  explicit Parser(LoadResult* result) : result_(result) {}

  void ParseService(const Json& root, ServiceConfig* cfg);

 private:
  void Error(std::string path, std::string message) {
    result_->errors.push_back({std::move(path), std::move(message)});
  }
  void TypeError(const std::string& path, absl::string_view expected, const Json& got) {
    Error(path, absl::StrCat("expected ", expected, ", got ", TypeName(got)));
  }

  void CheckKeys(const Json& obj, const std::string& path,
                 absl::Span<const absl::string_view> known, absl::Span<const KeyHint> hints);

  // Typed readers. nullopt when the key is absent or null; a wrong type is also recorded.
  std::optional<std::string> String(const Json& obj, absl::string_view key,
                                    const std::string& parent);
  std::optional<bool> Bool(const Json& obj, absl::string_view key, const std::string& parent);
  std::optional<int64_t> Int(const Json& obj, absl::string_view key, const std::string& parent);
  std::optional<absl::Duration> Duration(const Json& obj, absl::string_view key,
                                         const std::string& parent, bool int_seconds = false);
  std::optional<std::vector<std::string>> Strings(const Json& obj, absl::string_view key,
                                                  const std::string& parent);
  std::optional<AllowList> Allow(const Json& obj, absl::string_view key, const std::string& parent,
                                 bool lower_case);
  std::optional<std::vector<HostAddress>> Hosts(const Json& obj, const std::string& parent);
  std::optional<OutputEncoding> Output(const Json& obj, const std::string& parent);
  std::optional<std::string> Method(const Json& obj, const std::string& parent);
  std::optional<ListenAddress> Address(const Json& obj, absl::string_view key,
                                       const std::string& parent);

  // Renames v2 namespaces; `written_as` maps each v3 name back to the key in the file.
  Json ExtraConfig(const Json& obj, const std::string& parent,
                   std::map<std::string, std::string>* written_as);
  void ParseServiceComponents(const std::string& path,
                              const std::map<std::string, std::string>& written_as,
                              ServiceConfig* cfg);
  void ParseAdmin(const Json* admin, const std::string& admin_path, const Json* krakend_metrics,
                  const std::string& krakend_metrics_path, AdminConfig* out);

  void ParseEndpoint(const Json& e, const std::string& path, const ServiceConfig& svc,
                     Endpoint* ep);
  bool ParseEndpointPath(const std::string& path, Endpoint* ep);
  void ParseBackend(const Json& b, const std::string& path, const Endpoint& ep, bool params_known,
                    const ServiceConfig& svc, Backend* out);
  void CheckUrlPattern(const std::string& path, const std::string& pattern, const Endpoint& ep);

  LoadResult* result_;
  int version_ = 3;
  bool service_host_error_ = false;
};

void Parser::CheckKeys(const Json& obj, const std::string& path,
                       absl::Span<const absl::string_view> known, absl::Span<const KeyHint> hints) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    if (!key.empty() && kCommentPrefixes.find(key[0]) != absl::string_view::npos) continue;
    if (Contains(known, key)) continue;
    std::string message = "unknown key";
    auto hint =
        std::find_if(hints.begin(), hints.end(), [&](const KeyHint& h) { return h.key == key; });
    if (hint != hints.end()) {
      absl::StrAppend(&message, " (", hint->hint, ")");
    } else if (std::optional<absl::string_view> s = Suggest(key, known)) {
      absl::StrAppend(&message, " (did you mean ", Quote(*s), "?)");
    }
    result_->lint.push_back({Join(path, key), std::move(message)});
  }
}

std::optional<std::string> Parser::String(const Json& obj, absl::string_view key,
                                          const std::string& parent) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    TypeError(Join(parent, key), "a string", *v);
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<bool> Parser::Bool(const Json& obj, absl::string_view key,
                                 const std::string& parent) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    TypeError(Join(parent, key), "a boolean", *v);
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<int64_t> Parser::Int(const Json& obj, absl::string_view key,
                                   const std::string& parent) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) {
    TypeError(Join(parent, key), "an integer", *v);
    return std::nullopt;
  }
  if (v->is_number_unsigned() &&
      v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    Error(Join(parent, key), "integer out of range");
    return std::nullopt;
  }
  return v->get<int64_t>();
}

std::optional<absl::Duration> Parser::Duration(const Json& obj, absl::string_view key,
                                               const std::string& parent, bool int_seconds) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  std::string path = Join(parent, key);
  if (int_seconds && v->is_number_integer()) {
    std::optional<int64_t> n = Int(obj, key, parent);
    if (!n) return std::nullopt;
    if (*n < 0) {
      Error(path, absl::StrCat("negative duration ", *n, " is not allowed"));
      return std::nullopt;
    }
    return absl::Seconds(*n);
  }
  if (!v->is_string()) {
    TypeError(path, int_seconds ? "a duration string or integer seconds" : "a duration string", *v);
    return std::nullopt;
  }
  const std::string& text = v->get_ref<const std::string&>();
  std::optional<absl::Duration> d = ParseDuration(text);
  if (!d) Error(path, DurationError(text));
  return d;
}

std::optional<std::vector<std::string>> Parser::Strings(const Json& obj, absl::string_view key,
                                                        const std::string& parent) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  std::string path = Join(parent, key);
  if (!v->is_array()) {
    TypeError(path, "an array of strings", *v);
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& item = (*v)[i];
    if (!item.is_string()) {
      TypeError(Index(path, i), "a string", item);
      ok = false;
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<AllowList> Parser::Allow(const Json& obj, absl::string_view key,
                                       const std::string& parent, bool lower_case) {
  std::optional<std::vector<std::string>> names = Strings(obj, key, parent);
  if (!names) return std::nullopt;
  AllowList list;
  for (std::string& name : *names) {
    if (name == "*") {
      list.all = true;
      continue;
    }
    // HTTP header names are case-insensitive; query strings are not.
    list.names.push_back(lower_case ? absl::AsciiStrToLower(name) : std::move(name));
  }
  return list;
}

std::optional<std::vector<HostAddress>> Parser::Hosts(const Json& obj, const std::string& parent) {
  const Json* v = Find(obj, "host");
  if (v == nullptr) return std::nullopt;
  std::string path = Join(parent, "host");
  if (!v->is_array()) {
    TypeError(path, "an array of strings", *v);
    return std::nullopt;
  }
  std::vector<HostAddress> hosts;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& item = (*v)[i];
    if (!item.is_string()) {
      TypeError(Index(path, i), "a string", item);
      continue;
    }
    HostAddress host;
    std::string why;
    if (ParseHost(item.get_ref<const std::string&>(), &host, &why)) {
      hosts.push_back(std::move(host));
    } else {
      Error(Index(path, i), absl::StrCat("bad host ", Quote(item.get<std::string>()), ": ", why));
    }
  }
  return hosts;
}

std::optional<OutputEncoding> Parser::Output(const Json& obj, const std::string& parent) {
  std::optional<std::string> name = String(obj, "output_encoding", parent);
  if (!name || name->empty()) return std::nullopt;
  std::optional<OutputEncoding> e = OutputEncodingFromName(*name);
  if (!e) {
    Error(Join(parent, "output_encoding"),
          absl::StrCat("unknown output encoding ", Quote(*name),
                       " (use json, json-collection, string, xml, yaml, negotiate or no-op)"));
  }
  return e;
}

std::optional<std::string> Parser::Method(const Json& obj, const std::string& parent) {
  std::optional<std::string> m = String(obj, "method", parent);
  if (!m) return std::nullopt;
  std::string upper = absl::AsciiStrToUpper(*m);
  if (!Contains(kMethods, upper)) {
    Error(Join(parent, "method"),
          absl::StrCat("unsupported method ", Quote(*m),
                       " (use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)"));
    return std::nullopt;
  }
  return upper;
}

std::optional<ListenAddress> Parser::Address(const Json& obj, absl::string_view key,
                                             const std::string& parent) {
  std::optional<std::string> text = String(obj, key, parent);
  if (!text) return std::nullopt;
  ListenAddress address;
  std::string why;
  if (!ParseListenAddress(*text, &address, &why)) {
    Error(Join(parent, key), absl::StrCat("bad listen address ", Quote(*text), ": ", why));
    return std::nullopt;
  }
  return address;
}

Json Parser::ExtraConfig(const Json& obj, const std::string& parent,
                         std::map<std::string, std::string>* written_as) {
  Json out = Json::object();
  const Json* v = Find(obj, "extra_config");
  if (v == nullptr) return out;
  std::string path = Join(parent, "extra_config");
  if (!v->is_object()) {
    TypeError(path, "an object", *v);
    return out;
  }
  for (auto it = v->begin(); it != v->end(); ++it) {
    std::string ns = CanonicalNamespace(it.key());
    if (auto seen = written_as->find(ns); seen != written_as->end()) {
      Error(Join(path, it.key()), absl::StrCat("configures ", Quote(ns), " a second time (also as ",
                                               Quote(seen->second), ")"));
      continue;
    }
    (*written_as)[ns] = it.key();
    out[ns] = it.value();
  }
  return out;
}

void Parser::ParseServiceComponents(const std::string& path,
                                    const std::map<std::string, std::string>& written_as,
                                    ServiceConfig* cfg) {
  // Returns the component's object and its path as written in the file, or nullptr.
  auto component = [&](const char* ns, std::string* ns_path) -> const Json* {
    auto it = cfg->extra_config.find(ns);
    if (it == cfg->extra_config.end() || it->is_null()) return nullptr;
    *ns_path = Join(path, written_as.at(ns));
    if (!it->is_object()) {
      TypeError(*ns_path, "an object", *it);
      return nullptr;
    }
    return &*it;
  };
  std::string ns_path;
  if (const Json* logging = component("telemetry/logging", &ns_path)) {
    if (std::optional<std::string> level = String(*logging, "level", ns_path)) {
      std::string upper = absl::AsciiStrToUpper(*level);
      if (Contains(kLogLevels, upper)) {
        cfg->logging.level = upper;
      } else {
        Error(Join(ns_path, "level"),
              absl::StrCat("unknown log level ", Quote(*level),
                           " (use DEBUG, INFO, WARNING, ERROR or CRITICAL)"));
      }
    }
  }
  if (const Json* router = component("router", &ns_path)) {
    if (std::optional<bool> off = Bool(*router, "disable_access_log", ns_path)) {
      cfg->logging.access_log = !*off;
    }
    if (std::optional<bool> hide = Bool(*router, "hide_version_header", ns_path)) {
      cfg->hide_version_header = *hide;
    }
  }
  if (const Json* http = component("sluice/http", &ns_path)) {
    if (std::optional<int64_t> workers = Int(*http, "workers", ns_path)) {
      // More threads than this is a typo, not a tuning choice.
      constexpr int64_t kMaxWorkers = 1024;
      if (*workers < 0 || *workers > kMaxWorkers) {
        Error(Join(ns_path, "workers"), absl::StrCat("must be between 0 (one per core) and ",
                                                     kMaxWorkers, ", got ", *workers));
      } else {
        cfg->tuning.workers = static_cast<int>(*workers);
      }
    }
    if (std::optional<int64_t> max_body = Int(*http, "max_body_bytes", ns_path)) {
      if (*max_body <= 0) {
        Error(Join(ns_path, "max_body_bytes"), absl::StrCat("must be positive, got ", *max_body));
      } else if (static_cast<uint64_t>(*max_body) > kMaxBodyBytesLimit) {
        Error(Join(ns_path, "max_body_bytes"),
              absl::StrCat("must be at most ", kMaxBodyBytesLimit, " (", kMaxBodyBytesLimit >> 20,
                           " MiB), got ", *max_body));
      } else {
        cfg->tuning.max_body_bytes = static_cast<uint64_t>(*max_body);
      }
    }
    if (std::optional<bool> on = Bool(*http, "metrics", ns_path)) cfg->tuning.metrics = *on;
  }
  std::string metrics_path;
  const Json* metrics = component("telemetry/metrics", &metrics_path);
  const Json* admin = component("sluice/admin", &ns_path);
  ParseAdmin(admin, ns_path, metrics, metrics_path, &cfg->admin);
}

void Parser::ParseAdmin(const Json* admin, const std::string& admin_path,
                        const Json* krakend_metrics, const std::string& krakend_metrics_path,
                        AdminConfig* out) {
  // Which key set the metrics address, for messages ("" while it is the default).
  std::string metrics_key_path;
  if (krakend_metrics != nullptr) {
    // KrakenD's component: only listen_address means something to Sluice (it always collects
    // every layer); its other keys are KrakenD's and not linted.
    if (auto a = Address(*krakend_metrics, "listen_address", krakend_metrics_path)) {
      out->metrics_address = *a;
      metrics_key_path = Join(krakend_metrics_path, "listen_address");
    }
  }
  if (admin == nullptr) return;
  CheckKeys(*admin, admin_path, kAdminKeys, {});
  std::string address_path = Join(admin_path, "address");
  if (auto a = Address(*admin, "address", admin_path)) out->address = *a;
  if (auto a = Address(*admin, "metrics_address", admin_path)) {
    if (!metrics_key_path.empty() &&
        (a->ip != out->metrics_address.ip || a->port != out->metrics_address.port)) {
      Error(Join(admin_path, "metrics_address"),
            absl::StrCat("conflicts with ", metrics_key_path, " (", out->metrics_address.ToString(),
                         "): set only one"));
    }
    out->metrics_address = *a;
    metrics_key_path = Join(admin_path, "metrics_address");
  }
  if (SameListener(out->address, out->metrics_address)) {
    Error(metrics_key_path.empty() ? address_path : metrics_key_path,
          absl::StrCat("the admin and metrics listeners cannot share ", out->address.ToString()));
  }
  if (auto name = String(*admin, "token_env", admin_path)) {
    if (!ValidEnvName(*name)) {
      Error(Join(admin_path, "token_env"),
            absl::StrCat("not an environment variable name: ", Quote(*name),
                         " (letters, digits and '_', not starting with a digit)"));
    } else {
      out->token_env = *name;
    }
  }
  if (auto file = String(*admin, "token_file", admin_path)) {
    if (file->empty()) {
      Error(Join(admin_path, "token_file"), "empty path");
    } else {
      out->token_file = *file;
    }
  }
  if (auto all = Bool(*admin, "require_token_for_all", admin_path)) {
    out->require_token_for_all = *all;
    if (*all && out->token_env.empty() && out->token_file.empty()) {
      Error(Join(admin_path, "require_token_for_all"),
            "needs a token: set token_env or token_file");
    }
  }
}

void Parser::ParseService(const Json& root, ServiceConfig* cfg) {
  if (const Json* v = Find(root, "version"); v == nullptr) {
    Error("version", "missing (use 3 for KrakenD 2.x files, 2 for KrakenD 1.x files)");
  } else if (!v->is_number_integer()) {
    TypeError("version", "an integer", *v);
  } else if (v->is_number_unsigned() && (v->get<uint64_t>() == 2 || v->get<uint64_t>() == 3)) {
    version_ = v->get<int>();
  } else {
    Error("version", absl::StrCat("unsupported version ", v->dump(),
                                  " (Sluice reads 3 for KrakenD 2.x and 2 for KrakenD 1.x)"));
  }
  cfg->version = version_;
  CheckKeys(root, "", kServiceKeys, {});

  if (auto name = String(root, "name", "")) cfg->name = *name;
  if (auto port = Int(root, "port", "")) {
    if (*port < 1 || *port > 65535) {
      Error("port", absl::StrCat("port ", *port, " out of range (1..65535)"));
    } else {
      cfg->port = static_cast<uint16_t>(*port);
    }
  }
  if (auto ip = String(root, "listen_ip", "")) {
    in_addr v4;
    in6_addr v6;
    if (!ip->empty() && inet_pton(AF_INET, ip->c_str(), &v4) != 1 &&
        inet_pton(AF_INET6, ip->c_str(), &v6) != 1) {
      Error("listen_ip", absl::StrCat("not an IP address: ", Quote(*ip)));
    } else {
      cfg->listen_ip = *ip;
    }
  }
  size_t errors_before = result_->errors.size();
  if (auto hosts = Hosts(root, "")) cfg->host = std::move(*hosts);
  service_host_error_ = result_->errors.size() != errors_before;
  // Zero request timeouts fall back to the default, as in Lura (a zero deadline would fail every
  // request). Zero server timeouts mean "no limit", as in Go's http.Server.
  if (auto d = Duration(root, "timeout", ""); d && *d > absl::ZeroDuration()) cfg->timeout = *d;
  if (auto d = Duration(root, "cache_ttl", "", version_ == 2)) cfg->cache_ttl = *d;
  if (auto e = Output(root, "")) cfg->output_encoding = *e;
  if (auto d = Duration(root, "read_timeout", "")) cfg->read_timeout = *d;
  if (auto d = Duration(root, "write_timeout", "")) cfg->write_timeout = *d;
  if (auto d = Duration(root, "idle_timeout", "")) cfg->idle_timeout = *d;
  if (auto d = Duration(root, "read_header_timeout", "")) cfg->read_header_timeout = *d;
  if (auto n = Int(root, "max_header_bytes", "")) {
    if (*n <= 0) {
      Error("max_header_bytes", absl::StrCat("must be positive, got ", *n));
    } else if (static_cast<uint64_t>(*n) > kMaxHeaderBytesLimit) {
      Error("max_header_bytes", absl::StrCat("must be at most ", kMaxHeaderBytesLimit, " (",
                                             kMaxHeaderBytesLimit >> 20, " MiB), got ", *n));
    } else {
      cfg->max_header_bytes = static_cast<uint64_t>(*n);
    }
  }
  if (auto d = Duration(root, "max_shutdown_wait_time", "")) cfg->max_shutdown_wait_time = *d;
  if (auto b = Bool(root, "debug_endpoint", "")) cfg->debug_endpoint = *b;
  if (auto b = Bool(root, "use_h2c", "")) cfg->use_h2c = *b;
  if (const Json* tls = Find(root, "tls")) cfg->tls = *tls;

  std::map<std::string, std::string> written_as;
  cfg->extra_config = ExtraConfig(root, "", &written_as);
  ParseServiceComponents("extra_config", written_as, cfg);

  const Json* endpoints = Find(root, "endpoints");
  if (endpoints != nullptr && !endpoints->is_array()) {
    TypeError("endpoints", "an array", *endpoints);
  } else if (endpoints != nullptr) {
    // Route shape ("GET /users/{}") -> index of the first endpoint with it.
    std::map<std::string, size_t> routes;
    for (size_t i = 0; i < endpoints->size(); ++i) {
      Endpoint ep;
      std::string path = Index("endpoints", i);
      ParseEndpoint((*endpoints)[i], path, *cfg, &ep);
      if (!ep.path.empty() && ep.path.front() == '/') {
        std::vector<std::string> segments = absl::StrSplit(ep.path, '/');
        for (std::string& s : segments) {
          if (absl::StartsWith(s, "{") && absl::EndsWith(s, "}")) s = "{}";
        }
        std::string shape = absl::StrCat(ep.method, " ", absl::StrJoin(segments, "/"));
        auto [it, inserted] = routes.emplace(shape, i);
        if (!inserted) {
          const Endpoint& first = cfg->endpoints[it->second];
          Error(path, absl::StrCat("duplicate endpoint ", ep.method, " ", ep.path, ": endpoints[",
                                   it->second, "] already serves ", first.method, " ", first.path));
        }
      }
      cfg->endpoints.push_back(std::move(ep));
    }
  }
}

bool Parser::ParseEndpointPath(const std::string& path, Endpoint* ep) {
  if (ep->path.empty() || ep->path.front() != '/') {
    Error(path, absl::StrCat("must start with '/', got ", Quote(ep->path)));
    return false;
  }
  if (IsReservedPath(ep->path)) {
    Error(path, absl::StrCat(Quote(ep->path),
                             " is reserved for the gateway (/__health, /__debug, /__echo)"));
    return false;
  }
  bool ok = true;
  for (absl::string_view segment : absl::StrSplit(absl::string_view(ep->path).substr(1), '/')) {
    if (segment.find_first_of("{}") == absl::string_view::npos) continue;
    absl::string_view name = segment.size() >= 2 ? segment.substr(1, segment.size() - 2) : "";
    if (segment.front() != '{' || segment.back() != '}' || !ValidParamName(name)) {
      Error(path, absl::StrCat("bad parameter segment ", Quote(segment),
                               ": a parameter is a whole segment {name}, the name made of "
                               "letters, digits, '_' and '-'"));
      ok = false;
    } else if (Contains(ep->params, name)) {
      Error(path, absl::StrCat("parameter {", name, "} appears twice"));
      ok = false;
    } else {
      ep->params.emplace_back(name);
    }
  }
  return ok;
}

void Parser::ParseEndpoint(const Json& e, const std::string& path, const ServiceConfig& svc,
                           Endpoint* ep) {
  ep->json_path = path;
  if (!e.is_object()) {
    TypeError(path, "an object", e);
    return;
  }
  std::vector<absl::string_view> known(std::begin(kEndpointKeys), std::end(kEndpointKeys));
  absl::Span<const absl::string_view> extra =
      version_ == 2 ? absl::MakeConstSpan(kEndpointKeysV2) : absl::MakeConstSpan(kEndpointKeysV3);
  known.insert(known.end(), extra.begin(), extra.end());
  CheckKeys(e, path, known,
            version_ == 2 ? absl::MakeConstSpan(kEndpointHintsV2)
                          : absl::MakeConstSpan(kEndpointHintsV3));

  bool params_known = false;
  if (Find(e, "endpoint") == nullptr) {
    Error(Join(path, "endpoint"), "missing (the public path, e.g. \"/users/{id}\")");
  } else if (auto p = String(e, "endpoint", path)) {
    ep->path = *p;
    params_known = ParseEndpointPath(Join(path, "endpoint"), ep);
  }
  if (auto m = Method(e, path)) ep->method = *m;
  if (auto n = Int(e, "concurrent_calls", path)) {
    if (*n < 1) {
      Error(Join(path, "concurrent_calls"), absl::StrCat("must be at least 1, got ", *n));
    } else if (*n > kMaxConcurrentCalls) {
      Error(Join(path, "concurrent_calls"),
            absl::StrCat("must be at most ", kMaxConcurrentCalls, ", got ", *n));
    } else {
      ep->concurrent_calls = static_cast<int>(*n);
    }
  }
  ep->timeout = svc.timeout;
  if (auto d = Duration(e, "timeout", path); d && *d > absl::ZeroDuration()) ep->timeout = *d;
  ep->cache_ttl = svc.cache_ttl;
  if (auto d = Duration(e, "cache_ttl", path, version_ == 2)) ep->cache_ttl = *d;
  const char* query_key = version_ == 2 ? "querystring_params" : "input_query_strings";
  const char* header_key = version_ == 2 ? "headers_to_pass" : "input_headers";
  if (auto l = Allow(e, query_key, path, false)) ep->input_query_strings = std::move(*l);
  if (auto l = Allow(e, header_key, path, true)) ep->input_headers = std::move(*l);
  ep->output_encoding = svc.output_encoding;
  if (auto o = Output(e, path)) ep->output_encoding = *o;
  std::map<std::string, std::string> written_as;
  ep->extra_config = ExtraConfig(e, path, &written_as);

  const Json* backends = Find(e, "backend");
  std::string backend_path = Join(path, "backend");
  if (backends == nullptr) {
    Error(backend_path, "missing: an endpoint needs at least one backend");
    return;
  }
  if (!backends->is_array()) {
    TypeError(backend_path, "an array", *backends);
    return;
  }
  if (backends->empty()) {
    Error(backend_path, "empty: an endpoint needs at least one backend");
    return;
  }
  for (size_t i = 0; i < backends->size(); ++i) {
    Backend b;
    ParseBackend((*backends)[i], Index(backend_path, i), *ep, params_known, svc, &b);
    ep->backends.push_back(std::move(b));
  }
  if (ep->output_encoding == OutputEncoding::kNoOp) {
    if (backends->size() > 1) {
      Error(path, absl::StrCat("output_encoding no-op proxies exactly one backend, found ",
                               backends->size()));
    }
    // KrakenD forces it: a no-op endpoint streams the backend's bytes untouched.
    for (Backend& b : ep->backends) b.encoding = BackendEncoding::kNoOp;
  }
}

void Parser::CheckUrlPattern(const std::string& path, const std::string& pattern,
                             const Endpoint& ep) {
  size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string::npos) {
    size_t close = pattern.find('}', pos);
    if (close == std::string::npos) {
      Error(path, absl::StrCat("unclosed '{' in ", Quote(pattern)));
      return;
    }
    std::string name = pattern.substr(pos + 1, close - pos - 1);
    if (absl::StartsWith(name, "JWT.")) {
      // Recognised (KrakenD EE/JWT component) but not served: rejected so that `check` never
      // accepts a file that `run` cannot start.
      Error(path, absl::StrCat("{", name, "}: JWT placeholders are not supported yet"));
    } else if (IsExemptPlaceholder(name)) {
      // {respN_field}: the answer of backend N of a sequential endpoint.
      const size_t n = std::strtoul(name.c_str() + 4, nullptr, 10);
      const Json* proxy = ep.extra_config.is_object() && ep.extra_config.contains("proxy")
                              ? &ep.extra_config["proxy"]
                              : nullptr;
      const bool sequential = proxy != nullptr && proxy->is_object() &&
                              proxy->contains("sequential") && (*proxy)["sequential"] == true;
      if (!sequential) {
        Error(path, absl::StrCat("{", name, "} needs extra_config.proxy.sequential: true on ",
                                 "the endpoint"));
      } else if (n >= ep.backends.size()) {
        Error(path, absl::StrCat("{", name, "} refers to backend ", n,
                                 ", which is not called before this one"));
      }
    } else if (!Contains(ep.params, name)) {
      Error(path, absl::StrCat("{", name, "} is not a parameter of endpoint ", Quote(ep.path)));
    }
    pos = close + 1;
  }
}

void Parser::ParseBackend(const Json& b, const std::string& path, const Endpoint& ep,
                          bool params_known, const ServiceConfig& svc, Backend* out) {
  out->json_path = path;
  out->method = ep.method;
  if (!b.is_object()) {
    TypeError(path, "an object", b);
    return;
  }
  std::vector<absl::string_view> known(std::begin(kBackendKeys), std::end(kBackendKeys));
  absl::Span<const absl::string_view> extra =
      version_ == 2 ? absl::MakeConstSpan(kBackendKeysV2) : absl::MakeConstSpan(kBackendKeysV3);
  known.insert(known.end(), extra.begin(), extra.end());
  CheckKeys(
      b, path, known,
      version_ == 2 ? absl::MakeConstSpan(kBackendHintsV2) : absl::MakeConstSpan(kBackendHintsV3));

  size_t errors_before = result_->errors.size();
  std::optional<std::vector<HostAddress>> hosts = Hosts(b, path);
  bool host_error = result_->errors.size() != errors_before;
  out->hosts = hosts && !hosts->empty() ? std::move(*hosts) : svc.host;
  // A bad host list (here or at the top level) is reported already; don't report it twice.
  if (out->hosts.empty() && !host_error && !service_host_error_) {
    Error(path, "no host: set \"host\" on this backend or at the top level");
  }

  if (Find(b, "url_pattern") == nullptr) {
    Error(Join(path, "url_pattern"), "missing (the backend path, e.g. \"/users/{id}\")");
  } else if (auto p = String(b, "url_pattern", path)) {
    // Lura's CleanPath: the pattern always starts with '/'.
    out->url_pattern = absl::StartsWith(*p, "/") ? *p : absl::StrCat("/", *p);
    if (params_known) CheckUrlPattern(Join(path, "url_pattern"), *p, ep);
  }
  if (auto m = Method(b, path)) out->method = *m;
  if (auto name = String(b, "encoding", path); name && !name->empty()) {
    if (std::optional<BackendEncoding> e = BackendEncodingFromName(*name)) {
      out->encoding = *e;
    } else {
      Error(Join(path, "encoding"),
            absl::StrCat("unknown encoding ", Quote(*name),
                         " (use json, safejson, string, xml, rss or no-op)"));
    }
  }
  if (auto sd = String(b, "sd", path); sd && !sd->empty()) {
    if (Contains(kServiceDiscovery, *sd)) {
      out->sd = *sd;
    } else {
      Error(Join(path, "sd"),
            absl::StrCat("unknown service discovery ", Quote(*sd), " (use static or dns)"));
    }
  }
  if (auto s = String(b, "sd_scheme", path); s && !s->empty()) out->sd_scheme = *s;
  if (auto s = String(b, "group", path)) out->group = *s;
  if (auto s = String(b, "target", path)) out->target = *s;
  if (const Json* mapping = Find(b, "mapping")) {
    std::string mapping_path = Join(path, "mapping");
    if (!mapping->is_object()) {
      TypeError(mapping_path, "an object", *mapping);
    } else {
      for (auto it = mapping->begin(); it != mapping->end(); ++it) {
        if (it->is_string()) {
          out->mapping[it.key()] = it->get<std::string>();
        } else {
          TypeError(Join(mapping_path, it.key()), "a string", *it);
        }
      }
    }
  }
  auto append = [](std::vector<std::string>* to, std::optional<std::vector<std::string>> from) {
    if (from) to->insert(to->end(), from->begin(), from->end());
  };
  append(&out->allow, Strings(b, "allow", path));
  append(&out->deny, Strings(b, "deny", path));
  if (version_ == 2) {
    append(&out->allow, Strings(b, "whitelist", path));
    append(&out->deny, Strings(b, "blacklist", path));
  }
  if (auto v = Bool(b, "is_collection", path)) out->is_collection = *v;
  if (auto v = Bool(b, "disable_host_sanitize", path)) out->disable_host_sanitize = *v;
  if (version_ == 3) {
    out->input_headers = Allow(b, "input_headers", path, true);
    out->input_query_strings = Allow(b, "input_query_strings", path, false);
  }
  std::map<std::string, std::string> written_as;
  out->extra_config = ExtraConfig(b, path, &written_as);
}

}  // namespace

std::string_view ToString(BackendEncoding e) {
  switch (e) {
    case BackendEncoding::kJson:
      return "json";
    case BackendEncoding::kSafeJson:
      return "safejson";
    case BackendEncoding::kString:
      return "string";
    case BackendEncoding::kNoOp:
      return "no-op";
    case BackendEncoding::kXml:
      return "xml";
    case BackendEncoding::kRss:
      return "rss";
  }
  return "unknown";
}

std::string_view ToString(OutputEncoding e) {
  switch (e) {
    case OutputEncoding::kJson:
      return "json";
    case OutputEncoding::kJsonCollection:
      return "json-collection";
    case OutputEncoding::kString:
      return "string";
    case OutputEncoding::kXml:
      return "xml";
    case OutputEncoding::kYaml:
      return "yaml";
    case OutputEncoding::kNegotiate:
      return "negotiate";
    case OutputEncoding::kNoOp:
      return "no-op";
  }
  return "unknown";
}

std::string ListenAddress::ToString() const {
  bool v6 = ip.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", ip, v6 ? "]" : "", ":", port);
}

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

LoadResult ParseConfig(std::string_view bytes, std::string_view file_path, EnvLookup env,
                       ComponentParser components) {
  LoadResult result;
  Json root = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    result.errors.push_back(SyntaxError(bytes));
    return result;
  }
  if (!root.is_object()) {
    result.errors.push_back(
        {"", absl::StrCat("the top level must be a JSON object, got ", TypeName(root))});
    return result;
  }
  std::vector<Diagnostic> env_errors;
  ApplyEnv(env, &root, &env_errors);

  auto cfg = std::make_shared<ServiceConfig>();
  Parser(&result).ParseService(root, cfg.get());
  result.errors.insert(result.errors.end(), env_errors.begin(), env_errors.end());
  if (!result.errors.empty()) return result;
  if (components != nullptr) {
    cfg->file_path = std::string(file_path);  // components resolve files relative to it
    Diagnostics found;
    components(cfg.get(), &found);
    result.errors.insert(result.errors.end(), found.errors.begin(), found.errors.end());
    result.warnings.insert(result.warnings.end(), found.warnings.begin(), found.warnings.end());
    result.lint.insert(result.lint.end(), found.lint.begin(), found.lint.end());
    if (!result.errors.empty()) return result;
  }

  cfg->file_path = std::string(file_path);
  cfg->raw_bytes = std::string(bytes);
  cfg->sha256_hex = Sha256Hex(bytes);
  cfg->loaded_at = absl::Now();
  cfg->effective = std::move(root);
  result.config = std::move(cfg);
  return result;
}

LoadResult LoadConfigFile(const std::string& file_path, EnvLookup env, ComponentParser components) {
  auto fail = [](std::string message) {
    LoadResult result;
    result.errors.push_back({"", std::move(message)});
    return result;
  };
  // Opened first and checked through the descriptor, so the file checked is the file read.
  const int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(absl::StrCat("cannot read file: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(absl::StrCat("cannot read file: ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode)
                    ? std::string("is a directory, not a configuration file")
                    : std::string("not a regular file (a device, pipe or socket cannot be a "
                                  "configuration file)"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    ::close(fd);
    return fail(absl::StrCat("file is ", st.st_size, " bytes; the limit is ", kMaxConfigFileBytes,
                             " (", kMaxConfigFileBytes >> 20, " MiB)"));
  }
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  // The file may grow while it is read: read at most the limit plus one byte to notice.
  while (got < kMaxConfigFileBytes + 1) {
    if (got == bytes.size()) bytes.resize(std::min<size_t>(kMaxConfigFileBytes + 1, got + 65536));
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(absl::StrCat("cannot read file: ", std::strerror(err)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxConfigFileBytes) {
    return fail(absl::StrCat("file is larger than the limit of ", kMaxConfigFileBytes, " bytes (",
                             kMaxConfigFileBytes >> 20, " MiB)"));
  }
  bytes.resize(got);
  return ParseConfig(bytes, file_path, env, components);
}

std::string FormatDiagnostic(std::string_view file_path, const Diagnostic& d) {
  absl::string_view file = View(file_path);
  if (d.path.empty()) return absl::StrCat(file, ": ", d.message);
  return absl::StrCat(file, ": ", d.path, ": ", d.message);
}

std::string Describe(const ServiceConfig& c) {
  auto fmt = [](absl::Duration d) { return absl::FormatDuration(d); };
  std::string out;
  absl::StrAppend(&out, "name: ", c.name.empty() ? "(none)" : c.name, "\n");
  absl::StrAppend(&out, "version: ", c.version, "\n");
  if (!c.file_path.empty()) {
    absl::StrAppend(&out, "file: ", c.file_path, " (sha256 ", c.sha256_hex, ")\n");
  }
  absl::StrAppend(&out, "port: ", c.port, "  listen_ip: ", c.listen_ip.empty() ? "*" : c.listen_ip,
                  "\n");
  absl::StrAppend(&out, "timeout: ", fmt(c.timeout), "  cache_ttl: ", fmt(c.cache_ttl),
                  "  output: ", View(ToString(c.output_encoding)), "\n");
  absl::StrAppend(&out, "server: read_timeout=", fmt(c.read_timeout),
                  " write_timeout=", fmt(c.write_timeout), " idle_timeout=", fmt(c.idle_timeout),
                  " read_header_timeout=", fmt(c.read_header_timeout),
                  " max_header_bytes=", c.max_header_bytes,
                  " max_shutdown_wait_time=", fmt(c.max_shutdown_wait_time), "\n");
  absl::StrAppend(&out,
                  "http: workers=", c.tuning.workers == 0 ? "auto" : absl::StrCat(c.tuning.workers),
                  " max_body_bytes=", c.tuning.max_body_bytes, "\n");
  absl::StrAppend(&out, "logging: level=", c.logging.level,
                  " access_log=", c.logging.access_log ? "on" : "off", "\n");
  absl::StrAppend(&out, "debug_endpoint: ", c.debug_endpoint ? "on" : "off", "\n");
  absl::StrAppend(&out, "use_h2c: ", c.use_h2c ? "on (HTTP/1.1 and cleartext HTTP/2)" : "off",
                  "\n");
  std::string token;
  if (!c.admin.token_env.empty()) token = absl::StrCat("env ", c.admin.token_env);
  if (!c.admin.token_file.empty()) {
    absl::StrAppend(&token, token.empty() ? "" : " or ", "file ", c.admin.token_file);
  }
  if (token.empty()) token = "none";
  absl::StrAppend(&out, "admin: grpc=", c.admin.address.ToString(),
                  " metrics=", c.admin.metrics_address.ToString(), " token=", token,
                  c.admin.require_token_for_all ? " (required for all calls)" : "", "\n");
  std::vector<std::string> hosts;
  for (const HostAddress& h : c.host) hosts.push_back(HostUrl(h));
  absl::StrAppend(&out, "host: ", hosts.empty() ? "(none)" : absl::StrJoin(hosts, ", "), "\n");
  absl::StrAppend(&out, "endpoints: ", c.endpoints.size(), "\n");
  for (const Endpoint& e : c.endpoints) {
    absl::StrAppend(&out, e.method, " ", e.path, "  timeout=", fmt(e.timeout),
                    "  output=", View(ToString(e.output_encoding)));
    if (e.cache_ttl > absl::ZeroDuration()) absl::StrAppend(&out, "  cache_ttl=", fmt(e.cache_ttl));
    if (e.concurrent_calls > 1) absl::StrAppend(&out, "  concurrent_calls=", e.concurrent_calls);
    absl::StrAppend(&out, "\n");
    for (const Backend& b : e.backends) {
      std::string host = b.hosts.empty() ? "" : HostUrl(b.hosts.front());
      if (b.extra_config.contains("backend/grpc")) {
        // A gRPC method: no HTTP method, scheme or encoding applies.
        host = b.hosts.empty() ? "" : absl::StrCat(b.hosts.front().host, ":", b.hosts.front().port);
        absl::StrAppend(&out, "  -> gRPC ", host, b.url_pattern);
      } else {
        absl::StrAppend(&out, "  -> ", b.method, " ", host, b.url_pattern, " (encoding ",
                        View(ToString(b.encoding)), ")");
      }
      if (b.hosts.size() > 1) absl::StrAppend(&out, " +", b.hosts.size() - 1, " more hosts");
      absl::StrAppend(&out, "\n");
    }
  }
  return out;
}

}  // namespace sluice::config
