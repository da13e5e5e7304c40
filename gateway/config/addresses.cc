#include "gateway/config/addresses.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/config/text.h"

namespace sluice::config {

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

namespace {

bool ValidHostName(absl::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

}  // namespace

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

std::string HostUrl(const HostAddress& h) {
  bool v6 = h.host.find(':') != std::string::npos;
  return absl::StrCat(h.scheme, "://", v6 ? "[" : "", h.host, v6 ? "]" : "", ":", h.port);
}

}  // namespace sluice::config
