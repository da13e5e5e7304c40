#include "gateway/components/security/cors/cors.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"

namespace sluice::components::cors {

namespace bhttp = boost::beast::http;

namespace {

std::string_view Header(const http::Request& req, std::string_view name) {
  auto it = req.find(Bv(name));
  return it == req.end() ? std::string_view() : Sv(it->value());
}

// The client's exchange, adding the CORS headers to whatever answer it gets.
class CorsExchange final : public http::Exchange {
 public:
  using Headers = std::vector<std::pair<std::string_view, std::string>>;
  CorsExchange(http::ExchangePtr inner, Headers headers)
      : inner_(std::move(inner)), headers_(std::move(headers)) {}

  const http::Request& request() const override { return inner_->request(); }
  http::Request& mutable_request() override { return inner_->mutable_request(); }
  std::string_view client_ip() const override { return inner_->client_ip(); }
  int worker_index() const override { return inner_->worker_index(); }
  boost::asio::io_context& io_context() override { return inner_->io_context(); }
  void Respond(http::Response&& response) override {
    // A backend's own CORS headers would contradict the gateway's: the gateway's win.
    for (std::string_view name :
         {"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
          "Access-Control-Expose-Headers"}) {
      response.erase(Bv(name));
    }
    for (auto& [name, value] : headers_) {
      if (name == "Vary") {
        response.insert(Bv(name), Bv(value));
      } else {
        response.set(Bv(name), Bv(value));
      }
    }
    inner_->Respond(std::move(response));
  }

 private:
  http::ExchangePtr inner_;
  Headers headers_;
};

}  // namespace

bool Cors::OriginAllowed(std::string_view origin) const {
  if (config_->allow_all_origins) return true;
  const std::string lower = absl::AsciiStrToLower(std::string(origin));
  for (const std::string& o : config_->origins) {
    if (o == lower) return true;
  }
  for (const Config::Wildcard& w : config_->wildcards) {
    if (lower.size() >= w.prefix.size() + w.suffix.size() && StartsWith(lower, w.prefix) &&
        lower.compare(lower.size() - w.suffix.size(), w.suffix.size(), w.suffix) == 0) {
      return true;
    }
  }
  return false;
}

bool Cors::MethodAllowed(std::string_view method) const {
  if (method == "OPTIONS") return true;  // preflights always pass
  for (const std::string& m : config_->methods) {
    if (m == method) return true;
  }
  return false;
}

bool Cors::HeadersAllowed(std::string_view requested) const {
  if (config_->allow_all_headers) return true;
  while (!requested.empty()) {
    const size_t comma = requested.find(',');
    std::string_view h = requested.substr(0, comma);
    requested = comma == std::string_view::npos ? std::string_view() : requested.substr(comma + 1);
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
    if (h.empty()) continue;
    bool found = false;
    for (const std::string& allowed : config_->headers) {
      if (EqualsIgnoreCase(allowed, h)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

bool Cors::Handle(http::ExchangePtr* exchange) const {
  const Config& c = *config_;
  const http::Request& req = (*exchange)->request();
  const std::string_view origin = Header(req, "Origin");
  const std::string_view request_method = Header(req, "Access-Control-Request-Method");
  CorsExchange::Headers headers;
  const auto refuse = [&](const std::string& why) {
    if (c.debug && log::DebugEnabled()) {
      log::Debug("[CORS] {} {}: origin '{}' {}", Sv(req.method_string()), Sv(req.target()),
                 origin, why);
    }
  };

  if (req.method() == bhttp::verb::options && !request_method.empty()) {
    headers.emplace_back("Vary", c.allow_private_network
                                     ? "Origin, Access-Control-Request-Method, "
                                       "Access-Control-Request-Headers, "
                                       "Access-Control-Request-Private-Network"
                                     : "Origin, Access-Control-Request-Method, "
                                       "Access-Control-Request-Headers");
    const std::string method = absl::AsciiStrToUpper(std::string(request_method));
    const std::string_view requested_headers = Header(req, "Access-Control-Request-Headers");
    if (origin.empty()) {
      refuse("preflight without Origin");
    } else if (!OriginAllowed(origin)) {
      refuse("not allowed");
    } else if (!MethodAllowed(method)) {
      refuse("method " + method + " not allowed");
    } else if (!HeadersAllowed(requested_headers)) {
      refuse("headers '" + std::string(requested_headers) + "' not allowed");
    } else {
      headers.emplace_back("Access-Control-Allow-Origin",
                           c.allow_all_origins ? std::string("*") : std::string(origin));
      headers.emplace_back("Access-Control-Allow-Methods", method);
      if (!requested_headers.empty()) {
        headers.emplace_back("Access-Control-Allow-Headers", std::string(requested_headers));
      }
      if (c.allow_credentials) headers.emplace_back("Access-Control-Allow-Credentials", "true");
      if (c.allow_private_network &&
          Header(req, "Access-Control-Request-Private-Network") == "true") {
        headers.emplace_back("Access-Control-Allow-Private-Network", "true");
      }
      if (c.max_age > absl::ZeroDuration()) {
        headers.emplace_back("Access-Control-Max-Age",
                             absl::StrCat(absl::ToInt64Seconds(c.max_age)));
      }
    }
    if (!c.options_passthrough) {
      http::Response res(static_cast<bhttp::status>(c.options_success_status), 11);
      for (auto& [name, value] : headers) res.set(Bv(name), Bv(value));
      (*exchange)->Respond(std::move(res));
      return true;
    }
  } else {
    headers.emplace_back("Vary", "Origin");
    if (origin.empty()) {
      // Not a CORS request: Vary only.
    } else if (!OriginAllowed(origin)) {
      refuse("not allowed");
    } else if (!MethodAllowed(Sv(req.method_string()))) {
      refuse("method not allowed");
    } else {
      headers.emplace_back("Access-Control-Allow-Origin",
                           c.allow_all_origins ? std::string("*") : std::string(origin));
      if (!c.expose_headers.empty()) {
        headers.emplace_back("Access-Control-Expose-Headers", c.expose_headers);
      }
      if (c.allow_credentials) headers.emplace_back("Access-Control-Allow-Credentials", "true");
    }
  }
  *exchange = std::make_shared<CorsExchange>(std::move(*exchange), std::move(headers));
  return false;
}

}  // namespace sluice::components::cors
