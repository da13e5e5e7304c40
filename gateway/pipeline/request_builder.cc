#include "gateway/pipeline/request_builder.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"
#include "gateway/router/router.h"
#include "gateway/version/version.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;

namespace {

bool IsUnreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  if (config::IsJwtPlaceholder(name) || config::IsInputPlaceholder(name)) return true;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '-';
  });
}

// Hop-by-hop and framing headers are the gateway's own business on each hop: never forwarded,
// even with input_headers ["*"].
bool IsHopByHop(bhttp::field f, std::string_view name) {
  // Host is the backend's (the client sets it); Expect is answered by the front.
  return http::IsHopByHop(f) || f == bhttp::field::host || f == bhttp::field::expect ||
         EqualsIgnoreCase(name, "http2-settings");
}

bool Allowed(const config::AllowList& list, std::string_view name_lower) {
  if (list.all) return true;
  for (const std::string& n : list.names) {
    if (n == name_lower) return true;
  }
  return false;
}

bool AllowedQueryKey(const config::AllowList& list, std::string_view key) {
  if (list.all) return true;
  for (const std::string& n : list.names) {
    if (n == key) return true;
  }
  return false;
}

}  // namespace

bool UrlTemplate::ParseResponseRef(std::string_view name, UrlTemplate* t,
                                   std::string_view literal_before) {
  // {resp<N>_<field>[.<field>...]}
  if (name.substr(0, 4) != "resp") return false;
  size_t i = 4;
  int n = 0;
  while (i < name.size() && absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) {
    n = n * 10 + (name[i] - '0');
    ++i;
  }
  if (i == 4 || i + 1 >= name.size() || name[i] != '_' || n > 64) return false;
  Piece piece;
  piece.response = n;
  std::string_view rest = name.substr(i + 1);
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    piece.field.emplace_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (!literal_before.empty()) t->pieces_.push_back(Piece{std::string(literal_before), -1, -1, {}});
  t->pieces_.push_back(std::move(piece));
  return true;
}

void UrlTemplate::AppendResponseField(const nlohmann::json* answer,
                                      const std::vector<std::string>& field, std::string* out) {
  const nlohmann::json* v = answer;
  for (const std::string& key : field) {
    if (v == nullptr || !v->is_object()) return;
    auto it = v->find(key);
    if (it == v->end()) return;
    v = &*it;
  }
  if (v == nullptr || v->is_null()) return;
  // Strings go in as they are; numbers and booleans as JSON prints them (42, 1.5, true).
  PercentEncode(v->is_string() ? v->get_ref<const std::string&>() : v->dump(), out);
}

void PercentEncode(std::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : value) {
    if (IsUnreserved(c)) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

absl::StatusOr<UrlTemplate> UrlTemplate::Compile(std::string_view pattern,
                                                 const std::vector<std::string>& params,
                                                 bool sequential) {
  UrlTemplate t;
  t.has_query_ = pattern.find('?') != std::string_view::npos;
  size_t pos = 0;
  while (pos < pattern.size()) {
    size_t open = pattern.find('{', pos);
    size_t close = open == std::string_view::npos ? open : pattern.find('}', open);
    std::string_view name = close == std::string_view::npos
                                ? std::string_view()
                                : pattern.substr(open + 1, close - open - 1);
    if (sequential && ParseResponseRef(name, &t, pattern.substr(pos, open - pos))) {
      pos = close + 1;
      continue;
    }
    if (open == std::string_view::npos || close == std::string_view::npos || !IsParamName(name)) {
      size_t end = open == std::string_view::npos ? pattern.size() : open + 1;
      if (t.pieces_.empty() || t.pieces_.back().param >= 0) t.pieces_.push_back(Piece{});
      t.pieces_.back().literal.append(pattern.substr(pos, end - pos));
      pos = end;
      continue;
    }
    auto it = std::find(params.begin(), params.end(), name);
    if (it == params.end()) {
      return absl::InvalidArgumentError("url_pattern uses {" + std::string(name) +
                                        "} which the endpoint does not define");
    }
    if (open > pos)
      t.pieces_.push_back(Piece{std::string(pattern.substr(pos, open - pos)), -1, -1, {}});
    t.pieces_.push_back(Piece{"", static_cast<int>(it - params.begin()), -1, {}});
    pos = close + 1;
  }
  return t;
}

void UrlTemplate::Expand(const backend::Params& values, std::string* out,
                         const std::vector<const nlohmann::json*>* previous) const {
  for (const Piece& p : pieces_) {
    if (p.response >= 0) {
      if (previous != nullptr && static_cast<size_t>(p.response) < previous->size()) {
        AppendResponseField((*previous)[p.response], p.field, out);
      }
    } else if (p.param < 0) {
      out->append(p.literal);
    } else if (static_cast<size_t>(p.param) < values.size()) {
      const std::string& value = values[p.param].second;
      if (value == "." || value == "..") {
        // Unencoded these would be dot-segments that resolve to another backend path.
        for (size_t i = 0; i < value.size(); ++i) out->append("%2E");
      } else {
        PercentEncode(value, out);
      }
    }
  }
}

std::string FilterQuery(std::string_view raw_query, const config::AllowList& allow) {
  std::string out;
  if (allow.empty() || raw_query.empty()) return out;
  if (allow.all) return std::string(raw_query);
  size_t pos = 0;
  while (pos <= raw_query.size()) {
    size_t amp = raw_query.find('&', pos);
    if (amp == std::string_view::npos) amp = raw_query.size();
    std::string_view pair = raw_query.substr(pos, amp - pos);
    std::string_view key = pair.substr(0, pair.find('='));
    if (!key.empty() && AllowedQueryKey(allow, PercentDecode(key))) {
      if (!out.empty()) out.push_back('&');
      out.append(pair);
    }
    pos = amp + 1;
  }
  return out;
}

namespace {

// The allow-listed query string's pairs, decoded as a form would be ('+' is a space).
void DecodeQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  size_t pos = 0;
  std::string pair;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    pair.assign(query.substr(pos, amp - pos));
    for (char& c : pair) c = c == '+' ? ' ' : c;
    const size_t eq = pair.find('=');
    std::string key = PercentDecode(std::string_view(pair).substr(0, eq));
    if (!key.empty()) {
      out->emplace_back(std::move(key), eq == std::string::npos
                                            ? std::string()
                                            : PercentDecode(std::string_view(pair).substr(eq + 1)));
    }
    pos = amp + 1;
  }
}

}  // namespace

std::optional<std::string> FirstQueryValue(std::string_view query, std::string_view key) {
  std::vector<std::pair<std::string, std::string>> pairs;
  DecodeQuery(query, &pairs);
  for (auto& [k, v] : pairs) {
    if (k == key) return std::move(v);
  }
  return std::nullopt;
}

backend::BackendRequest BuildBackendRequest(const BackendRequestSpec& spec,
                                            const http::Request& client, std::string_view client_ip,
                                            const backend::Params& params, std::string body,
                                            std::string_view request_id,
                                            const std::vector<const nlohmann::json*>* previous) {
  backend::BackendRequest req;
  req.method = spec.method;
  req.params = &params;

  std::string& target = req.target;
  target.reserve(128);
  spec.url->Expand(params, &target, previous);
  std::string_view client_target = Sv(client.target());
  size_t q = client_target.find('?');
  if (q != std::string_view::npos && !spec.query_allow->empty()) {
    std::string query = FilterQuery(client_target.substr(q + 1), *spec.query_allow);
    if (spec.backend_query_allow != nullptr) query = FilterQuery(query, *spec.backend_query_allow);
    if (!query.empty()) {
      target.push_back(spec.url->has_query() ? '&' : '?');
      target.append(query);
      if (spec.decode_query) DecodeQuery(query, &req.query);
    }
  }

  backend::Fields& headers = req.headers;
  bool user_agent_forwarded = false;
  if (!spec.header_allow->empty()) {
    // Headers the client named in its Connection header are hop-by-hop too (RFC 7230 6.1).
    std::string_view connection;
    if (auto c = client.find(bhttp::field::connection); c != client.end()) {
      connection = Sv(c->value());
    }
    std::string lower;
    for (const auto& field : client) {
      std::string_view name = Sv(field.name_string());
      if (IsHopByHop(field.name(), name)) continue;
      if (!connection.empty() && ListsToken(connection, name)) continue;
      if (field.name() == bhttp::field::accept_encoding && !spec.pass_accept_encoding) continue;
      lower.assign(name.begin(), name.end());
      absl::AsciiStrToLower(&lower);
      if (!Allowed(*spec.header_allow, lower)) continue;
      if (spec.backend_header_allow != nullptr && !Allowed(*spec.backend_header_allow, lower)) {
        continue;
      }
      if (lower == "x-forwarded-for" || lower == "x-forwarded-host") {
        continue;  // always set by the gateway below
      }
      if (field.name() == bhttp::field::user_agent) user_agent_forwarded = true;
      headers.insert(field.name_string(), field.value());
    }
  }
  // Content-Type always travels with a body (KrakenD forwards it by default).
  if (headers.find(bhttp::field::content_type) == headers.end()) {
    auto ct = client.find(bhttp::field::content_type);
    if (ct != client.end()) headers.set(bhttp::field::content_type, ct->value());
  }
  headers.set("X-Forwarded-For", Bv(client_ip));
  auto host = client.find(bhttp::field::host);
  if (host != client.end()) headers.set("X-Forwarded-Host", host->value());
  const std::string_view ua = version::UserAgent();
  if (user_agent_forwarded) {
    headers.set("X-Forwarded-Via", Bv(ua));
  } else {
    headers.set(bhttp::field::user_agent, Bv(ua));
  }
  // An allow-listed X-Request-Id passes as the client sent it (the dispatcher took the id from
  // it); otherwise the request's id is sent.
  if (!request_id.empty() && headers.find("X-Request-Id") == headers.end()) {
    headers.set("X-Request-Id", Bv(request_id));
  }

  const bool carries_body = spec.method == "POST" || spec.method == "PUT" ||
                            spec.method == "PATCH" || spec.method == "DELETE";
  if (carries_body) req.body = std::move(body);
  return req;
}

}  // namespace sluice::pipeline
