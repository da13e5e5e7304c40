#pragma once

// KrakenD's `security/http` (service level; v1 `github_com/devopsfaith/krakend-httpsecure`),
// applied at the dispatcher after security/cors: the Host check (500 "Bad Host" as KrakenD), then
// the security headers added to every answer. Sluice serves plain HTTP (TLS terminates in front
// of it), so a request counts as TLS only through `ssl_proxy_headers`. Keys it cannot honour
// (ssl_redirect: true, allowed_hosts_are_regex: true) refuse the config.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/config/reader.h"
#include "gateway/http/exchange.h"

namespace sluice::components::httpsecure {

inline constexpr std::string_view kNamespace = "security/http";

struct Config : config::ComponentConfig {
  std::vector<std::string> allowed_hosts;  // lower-cased; empty: any Host
  std::vector<std::string> host_proxy_headers;
  std::vector<std::pair<std::string, std::string>> ssl_proxy_headers;
  std::string sts;  // the Strict-Transport-Security value, or empty
  bool force_sts = false;
  bool is_development = false;
  std::vector<std::pair<std::string_view, std::string>> headers;  // always added
};

// nullptr outside the service level (after recording the refusal).
std::shared_ptr<const Config> Parse(config::ObjectReader& reader, bool service_level);

class Secure {
 public:
  explicit Secure(std::shared_ptr<const Config> config) : config_(std::move(config)) {}
  // Answers a bad Host (true), or wraps `*exchange` so its answer gets the headers (false).
  bool Handle(http::ExchangePtr* exchange) const;

 private:
  std::shared_ptr<const Config> config_;
};

}  // namespace sluice::components::httpsecure
