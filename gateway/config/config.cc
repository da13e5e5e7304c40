#include "gateway/config/config.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "gateway/config/addresses.h"
#include "gateway/config/env.h"
#include "gateway/config/keys.h"
#include "gateway/config/namespaces.h"
#include "gateway/config/text.h"

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

template <typename List>
bool Contains(const List& list, absl::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

std::string Join(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

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

// POSIX-portable environment variable names.
bool ValidEnvName(absl::string_view name) {
  return !name.empty() && !IsDigit(name.front()) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

bool ValidParamName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace

bool IsJwtPlaceholder(std::string_view name) {
  constexpr std::string_view kPrefix = "JWT.";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(name.begin() + kPrefix.size(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
           c == '/' || c == '-';
  });
}

bool IsInputPlaceholder(std::string_view name) {
  for (std::string_view prefix :
       {std::string_view("input_headers."), std::string_view("input_query_strings.")}) {
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) {
      return std::all_of(name.begin() + prefix.size(), name.end(), [](char c) {
        return c > ' ' && c < 0x7f && c != '{' && c != '}' && c != '/' && c != '?';
      });
    }
  }
  return false;
}

namespace {

// The distinct `{name}`s of an endpoint's url_patterns that `kind` accepts, in order of first use.
std::vector<std::string> PlaceholdersOf(const Endpoint& endpoint,
                                        bool (*kind)(std::string_view name)) {
  std::vector<std::string> names;
  for (const Backend& b : endpoint.backends) {
    std::string_view pattern = b.url_pattern;
    for (size_t open = pattern.find('{'); open != std::string_view::npos;
         open = pattern.find('{', open + 1)) {
      const size_t close = pattern.find('}', open);
      if (close == std::string_view::npos) break;
      const std::string_view name = pattern.substr(open + 1, close - open - 1);
      if (kind(name) && std::find(names.begin(), names.end(), name) == names.end()) {
        names.emplace_back(name);
      }
    }
  }
  return names;
}

}  // namespace

std::vector<std::string> InputPlaceholders(const Endpoint& endpoint) {
  return PlaceholdersOf(endpoint, &IsInputPlaceholder);
}

std::vector<std::string> JwtPlaceholders(const Endpoint& endpoint) {
  return PlaceholdersOf(endpoint, &IsJwtPlaceholder);
}

namespace {

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
  void Warn(std::string path, std::string message) {
    result_->warnings.push_back({std::move(path), absl::StrCat("warning: ", message)});
  }
  void Lint(std::string path, std::string message) {
    result_->lint.push_back({std::move(path), std::move(message)});
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
  // `other_schemes`: hosts with a scheme other than http(s) (ws://, amqp://...) are kept, as
  // KrakenD keeps them under disable_host_sanitize; otherwise they are errors.
  std::optional<std::vector<HostAddress>> Hosts(const Json& obj, const std::string& parent,
                                                bool other_schemes = false);
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
  void ParseListenerTls(const Json& json, ListenerTls* out);
  void ParseClientTls(const Json& json, ClientTls* out);
  void Absorb(const Diagnostics& found);
  void ParseAdmin(const Json* admin, const std::string& admin_path, const Json* krakend_metrics,
                  const std::string& krakend_metrics_path, AdminConfig* out);

  // False when the endpoint is skipped (a warning says why).
  bool ParseEndpoint(const Json& e, const std::string& path, const ServiceConfig& svc,
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
  if (v->is_string()) {
    // KrakenD's loader reads "true", "1"... where a boolean is expected.
    const std::string& s = v->get_ref<const std::string&>();
    if (std::optional<bool> b = ParseGoBool(s)) {
      Lint(Join(parent, key), absl::StrCat("a boolean written as the string ", Quote(s)));
      return b;
    }
  }
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
  if (v->is_string()) {
    // KrakenD's loader reads a numeric string where a number is expected.
    const std::string& s = v->get_ref<const std::string&>();
    int64_t n = 0;
    if (absl::SimpleAtoi(s, &n)) {
      Lint(Join(parent, key), absl::StrCat("an integer written as the string ", Quote(s)));
      return n;
    }
  }
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

std::optional<std::vector<HostAddress>> Parser::Hosts(const Json& obj, const std::string& parent,
                                                      bool other_schemes) {
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
    const std::string& text = item.get_ref<const std::string&>();
    if (ParseHost(text, &host, &why)) {
      hosts.push_back(std::move(host));
    } else if (const size_t sep = text.find("://"); other_schemes && sep != std::string::npos &&
                                                    absl::StartsWith(why, "unsupported scheme")) {
      host.scheme = absl::AsciiStrToLower(text.substr(0, sep));
      host.host = text.substr(sep + 3);
      host.original = text;
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
    Diagnostics found;
    ObjectReader reader(*http, ns_path, &found);
    if (auto n = reader.Int("max_connections", 1, kMaxConnectionsLimit)) {
      cfg->tuning.max_connections = *n;
    }
    if (auto n = reader.Int("max_buffered_request_bytes", kMinBufferedRequestBytes,
                            kMaxBufferedRequestBytes)) {
      const uint64_t largest = cfg->max_header_bytes + cfg->tuning.max_body_bytes;
      if (static_cast<uint64_t>(*n) < largest) {
        reader.Error("max_buffered_request_bytes",
                     absl::StrCat("must hold at least one largest request (max_header_bytes + "
                                  "max_body_bytes = ",
                                  largest, "), got ", *n));
      } else {
        cfg->tuning.max_buffered_request_bytes = static_cast<uint64_t>(*n);
      }
    }
    result_->errors.insert(result_->errors.end(), found.errors.begin(), found.errors.end());
    result_->lint.insert(result_->lint.end(), found.lint.begin(), found.lint.end());
  }
  if (const Json* reload = component("sluice/reload", &ns_path)) {
    Diagnostics found;
    ObjectReader reader(*reload, ns_path, &found);
    if (auto watch = reader.Bool("watch")) cfg->reload.watch = *watch;
    if (auto interval = reader.Duration("interval")) {
      // Faster than this is a busy loop of stat calls; slower than a minute is not watching.
      if (*interval < absl::Milliseconds(100) || *interval > absl::Minutes(1)) {
        reader.Error("interval", absl::StrCat("must be between 100ms and 1m, got ",
                                              absl::FormatDuration(*interval)));
      } else {
        cfg->reload.interval = *interval;
      }
    }
    reader.CheckKeys({"watch", "interval"});
    result_->errors.insert(result_->errors.end(), found.errors.begin(), found.errors.end());
    result_->lint.insert(result_->lint.end(), found.lint.begin(), found.lint.end());
  }
  std::string metrics_path;
  const Json* metrics = component("telemetry/metrics", &metrics_path);
  const Json* admin = component("sluice/admin", &ns_path);
  ParseAdmin(admin, ns_path, metrics, metrics_path, &cfg->admin);
}

// ---------------------------------------------------------------------------------------------
// tls and client_tls (KrakenD's keys; certificates are read and checked by gateway/http/tls)

namespace {

constexpr std::string_view kTlsKeys[] = {"disabled",
                                         "public_key",
                                         "private_key",
                                         "keys",
                                         "min_version",
                                         "max_version",
                                         "cipher_suites",
                                         "curve_preferences",
                                         "enable_mtls",
                                         "ca_certs",
                                         "disable_system_ca_pool",
                                         "prefer_server_cipher_suites"};
constexpr std::string_view kClientTlsKeys[] = {"allow_insecure_connections",
                                               "ca_certs",
                                               "disable_system_ca_pool",
                                               "min_version",
                                               "max_version",
                                               "curve_preferences",
                                               "cipher_suites",
                                               "client_certs"};

// Go's names (crypto/tls via KrakenD); anything else, or nothing, is TLS 1.3 as in KrakenD.
int TlsVersion(const std::optional<std::string>& name) {
  if (!name) return kTls13;
  if (*name == "SSL3.0" || *name == "TLS10") return 0x0301;
  if (*name == "TLS11") return 0x0302;
  if (*name == "TLS12") return kTls12;
  return kTls13;
}

// An array of 16-bit IDs (Go's tls.CipherSuite and tls.CurveID numbers).
std::optional<std::vector<uint16_t>> Ids(ObjectReader& reader, std::string_view key) {
  const Json* v = reader.Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    reader.Error(key, absl::StrCat("must be an array of integers, got ", TypeName(*v)));
    return std::nullopt;
  }
  std::vector<uint16_t> out;
  for (const Json& item : *v) {
    if (!item.is_number_unsigned() || item.get<uint64_t>() > 0xffff) {
      reader.Error(key, absl::StrCat("must hold integers from 0 to 65535, got ", item.dump()));
      return std::nullopt;
    }
    out.push_back(static_cast<uint16_t>(item.get<uint64_t>()));
  }
  return out;
}

void ReadTlsSettings(ObjectReader& reader, TlsSettings* out) {
  out->json_path = reader.path();
  out->min_version = TlsVersion(reader.String("min_version"));
  out->max_version = TlsVersion(reader.String("max_version"));
  if (out->max_version < out->min_version) {
    reader.Error("max_version", "is below min_version: no TLS version would be left");
  }
  if (auto ids = Ids(reader, "cipher_suites")) out->cipher_suites = std::move(*ids);
  if (auto ids = Ids(reader, "curve_preferences")) out->curve_preferences = std::move(*ids);
  if (auto paths = reader.Strings("ca_certs")) out->ca_certs = std::move(*paths);
  if (auto b = reader.Bool("disable_system_ca_pool")) out->disable_system_ca_pool = *b;
}

// `keys`-style arrays of {certificate key, private_key} objects.
std::vector<TlsKeyPair> KeyPairs(ObjectReader& reader, std::string_view key,
                                 std::string_view certificate_key) {
  std::vector<TlsKeyPair> out;
  const Json* v = reader.Find(key);
  if (v == nullptr) return out;
  if (!v->is_array()) {
    reader.Error(key, absl::StrCat("must be an array of objects, got ", TypeName(*v)));
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    ObjectReader item((*v)[i], IndexPath(reader.PathOf(key), i), reader.sink());
    if (!item.ok()) continue;
    TlsKeyPair pair;
    pair.json_path = item.path();
    auto certificate = item.String(certificate_key);
    auto private_key = item.String("private_key");
    if (!certificate || certificate->empty()) {
      item.Error(certificate_key, "missing: the PEM file of the certificate");
    }
    if (!private_key || private_key->empty()) {
      item.Error("private_key", "missing: the PEM file of the certificate's private key");
    }
    if (!certificate || !private_key) continue;
    pair.certificate = *certificate;
    pair.private_key = *private_key;
    out.push_back(std::move(pair));
  }
  return out;
}

}  // namespace

void Parser::Absorb(const Diagnostics& found) {
  result_->errors.insert(result_->errors.end(), found.errors.begin(), found.errors.end());
  result_->warnings.insert(result_->warnings.end(), found.warnings.begin(), found.warnings.end());
  result_->lint.insert(result_->lint.end(), found.lint.begin(), found.lint.end());
}

void Parser::ParseListenerTls(const Json& json, ListenerTls* out) {
  Diagnostics found;
  ObjectReader reader(json, "tls", &found);
  if (reader.ok()) {
    reader.CheckKeys(kTlsKeys);
    const bool disabled = reader.Bool("disabled").value_or(false);
    out->enabled = !disabled;
    if (disabled) return Absorb(found);  // plain HTTP, as in KrakenD: the other keys do nothing
    ReadTlsSettings(reader, out);
    out->keys = KeyPairs(reader, "keys", "public_key");
    // The legacy pair (KrakenD still reads it) comes after keys[], as in KrakenD.
    auto certificate = reader.String("public_key");
    auto private_key = reader.String("private_key");
    if (certificate && private_key && !certificate->empty() && !private_key->empty()) {
      out->keys.push_back({*certificate, *private_key, "tls"});
    } else if (certificate.has_value() != private_key.has_value()) {
      reader.Error(certificate ? "private_key" : "public_key",
                   "missing: public_key and private_key go together");
    }
    if (auto b = reader.Bool("enable_mtls")) out->enable_mtls = *b;
    if (out->enabled && out->keys.empty() && found.errors.empty()) {
      found.errors.push_back(
          {"tls",
           "no certificate: set keys[] (public_key and private_key PEM files), or "
           "\"disabled\": true to serve plain HTTP"});
    }
  } else {
    out->enabled = true;  // a malformed tls never means plain HTTP; the error fails the load
  }
  Absorb(found);
}

void Parser::ParseClientTls(const Json& json, ClientTls* out) {
  Diagnostics found;
  ObjectReader reader(json, "client_tls", &found);
  if (reader.ok()) {
    reader.CheckKeys(kClientTlsKeys);
    out->configured = true;
    ReadTlsSettings(reader, out);
    if (auto b = reader.Bool("allow_insecure_connections")) out->allow_insecure_connections = *b;
    out->client_certs = KeyPairs(reader, "client_certs", "certificate");
  }
  Absorb(found);
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
  if (const Json* tls = Find(*admin, "tls")) {
    Diagnostics found;
    ObjectReader reader(*tls, Join(admin_path, "tls"), &found);
    if (reader.ok()) {
      reader.CheckKeys({"public_key", "private_key", "client_ca"});
      out->tls.json_path = reader.path();
      out->tls.certificate = reader.String("public_key").value_or("");
      out->tls.private_key = reader.String("private_key").value_or("");
      out->tls_client_ca = reader.String("client_ca").value_or("");
      if (out->tls.certificate.empty() || out->tls.private_key.empty()) {
        reader.Error(out->tls.certificate.empty() ? "public_key" : "private_key",
                     "missing: the admin listener's TLS needs public_key and private_key (PEM "
                     "files)");
      }
    }
    Absorb(found);
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
  } else if (v->is_string() && (*v == "2" || *v == "3")) {
    Lint("version", absl::StrCat("an integer written as the string ", v->dump()));
    version_ = *v == "2" ? 2 : 3;
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
  if (const Json* tls = Find(root, "tls")) ParseListenerTls(*tls, &cfg->tls);
  if (const Json* tls = Find(root, "client_tls")) ParseClientTls(*tls, &cfg->client_tls);
  // KrakenD's legacy root key: it creates a client_tls (so 1.3 only, as any client_tls).
  if (auto insecure = Bool(root, "allow_insecure_connections", ""); insecure && *insecure) {
    if (!cfg->client_tls.configured) cfg->client_tls.min_version = kTls13;
    cfg->client_tls.configured = true;
    cfg->client_tls.allow_insecure_connections = true;
  }

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
      if (!ParseEndpoint((*endpoints)[i], path, *cfg, &ep)) continue;
      if (!ep.path.empty() && ep.path.front() == '/') {
        std::vector<std::string> segments = absl::StrSplit(ep.path, '/');
        for (std::string& s : segments) {
          if (absl::StartsWith(s, "{") && absl::EndsWith(s, "}")) s = "{}";
        }
        std::string shape = absl::StrCat(ep.method, " ", absl::StrJoin(segments, "/"));
        auto [it, inserted] = routes.emplace(shape, cfg->endpoints.size());
        if (!inserted) {
          const Endpoint& first = cfg->endpoints[it->second];
          Error(path,
                absl::StrCat("duplicate endpoint ", ep.method, " ", ep.path, ": ", first.json_path,
                             " already serves ", first.method, " ", first.path));
        }
      }
      cfg->endpoints.push_back(std::move(ep));
    }
  }
  if (cfg->max_shutdown_wait_time <= absl::ZeroDuration()) {
    absl::Duration longest = cfg->timeout;
    for (const Endpoint& ep : cfg->endpoints) longest = std::max(longest, ep.timeout);
    cfg->max_shutdown_wait_time = std::max(kMinShutdownWait, longest + kShutdownGrace);
  }
}

bool Parser::ParseEndpointPath(const std::string& path, Endpoint* ep) {
  if (ep->path.empty()) {
    Error(path, "must not be empty");
    return false;
  }
  if (ep->path.front() != '/') {
    // KrakenD (gin) serves "users" as "/users".
    Lint(path, absl::StrCat(Quote(ep->path), " is served as ", Quote("/" + ep->path)));
    ep->path.insert(0, "/");
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

bool Parser::ParseEndpoint(const Json& e, const std::string& path, const ServiceConfig& svc,
                           Endpoint* ep) {
  ep->json_path = path;
  if (!e.is_object()) {
    TypeError(path, "an object", e);
    return true;
  }
  if (const Json* method = Find(e, "method");
      method != nullptr && method->is_string() &&
      method->get_ref<const std::string&>().find(',') != std::string::npos) {
    // KrakenD's check accepts it, and at run time logs and skips the endpoint: so does Sluice,
    // instead of refusing the whole file.
    Warn(Join(path, "method"),
         absl::StrCat(Quote(method->get<std::string>()),
                      " names several methods; this endpoint is skipped, as KrakenD does (one "
                      "endpoint per method)"));
    return false;
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
    return true;
  }
  if (!backends->is_array()) {
    TypeError(backend_path, "an array", *backends);
    return true;
  }
  if (backends->empty()) {
    Error(backend_path, "empty: an endpoint needs at least one backend");
    return true;
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
  } else {
    for (const Backend& b : ep->backends) {
      if (b.encoding != BackendEncoding::kNoOp) continue;
      Lint(Join(b.json_path, "encoding"),
           "no-op in an endpoint that renders its answer: this backend's body is not read and "
           "adds nothing to the answer (KrakenD does the same); the endpoint's output_encoding "
           "no-op passes a backend's answer through");
    }
  }
  return true;
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
      // A claim of the token auth/validator accepted; without one there is no token.
      if (!IsJwtPlaceholder(name)) {
        Error(path, absl::StrCat("{", name, "}: a claim name has letters, digits and _ . : / -"));
      } else if (!ep.extra_config.contains("auth/validator")) {
        Error(path, absl::StrCat("{", name,
                                 "} needs auth/validator on the endpoint: the claim "
                                 "comes from the token it validates"));
      }
    } else if (absl::StartsWith(name, "input_headers.") ||
               absl::StartsWith(name, "input_query_strings.")) {
      // KrakenD 2.x dynamic routing: a header's or query string's value; a request without it
      // gets 400 before any backend is called.
      if (!IsInputPlaceholder(name)) {
        Error(path, absl::StrCat("{", name,
                                 "}: expected {input_headers.Name} or "
                                 "{input_query_strings.name}"));
      }
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
  const Json* sanitize = Find(b, "disable_host_sanitize");
  const bool keep_schemes = sanitize != nullptr && sanitize->is_boolean() && sanitize->get<bool>();
  std::optional<std::vector<HostAddress>> hosts = Hosts(b, path, keep_schemes);
  for (const HostAddress& h : hosts ? *hosts : std::vector<HostAddress>{}) {
    if (h.scheme != "http" && h.scheme != "https" && out->unsupported_scheme.empty()) {
      out->unsupported_scheme = h.scheme;
      result_->warnings.push_back(
          {Join(path, "host"),
           absl::StrCat("warning: ", Quote(h.original), ": Sluice has no client for ", h.scheme,
                        ":// (a KrakenD component such as AMQP, Pub/Sub or websockets "
                        "serves it); the endpoint answers 501 Not Implemented")});
    }
  }
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
      // KrakenD decodes any encoding it does not know as JSON.
      out->encoding = BackendEncoding::kJson;
      Lint(Join(path, "encoding"),
           absl::StrCat("unknown encoding ", Quote(*name),
                        " is decoded as json, as KrakenD does (json, safejson, string, xml, rss "
                        "or no-op)"));
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
  cfg->sha256_hex = Sha256Hex(bytes);
  cfg->loaded_at = absl::Now();
  // replace: an environment override (SLUICE_NAME...) may hold bytes that are not UTF-8, which
  // the strict dump throws on; GetConfig shows them replaced, as it did before.
  cfg->effective_json = root.dump(-1, ' ', false, Json::error_handler_t::replace);
  result.config = std::move(cfg);
  return result;
}

}  // namespace sluice::config
