#include "gateway/components/security/http/secure.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::components::httpsecure {

namespace bhttp = boost::beast::http;

std::shared_ptr<const Config> Parse(config::ObjectReader& r, bool service_level) {
  if (!service_level) {
    r.Error("", "security/http is a service-level namespace; Sluice does not apply it here");
    return nullptr;
  }
  r.CheckKeys({"allowed_hosts", "allowed_hosts_are_regex", "host_proxy_headers", "ssl_redirect",
               "ssl_host", "ssl_proxy_headers", "sts_seconds", "sts_include_subdomains",
               "force_sts_header", "frame_deny", "custom_frame_options_value",
               "content_type_nosniff", "browser_xss_filter", "content_security_policy",
               "referrer_policy", "is_development", "hpkp_public_key"});
  auto c = std::make_shared<Config>();
  if (auto v = r.Strings("allowed_hosts")) {
    for (std::string& h : *v) c->allowed_hosts.push_back(absl::AsciiStrToLower(h));
  }
  if (r.Bool("allowed_hosts_are_regex").value_or(false)) {
    r.Error("allowed_hosts_are_regex", "not supported by Sluice: list the hosts exactly");
  }
  if (auto v = r.Strings("host_proxy_headers")) c->host_proxy_headers = *v;
  if (r.Bool("ssl_redirect").value_or(false)) {
    r.Error("ssl_redirect",
            "not supported by Sluice (it serves plain HTTP behind a TLS terminator): redirect "
            "to https there, or set false");
  }
  (void)r.String("ssl_host");  // used only by ssl_redirect
  if (const nlohmann::json* m = r.Find("ssl_proxy_headers")) {
    if (!m->is_object()) {
      r.Error("ssl_proxy_headers", "expected an object of header: value");
    } else {
      for (const auto& [k, v] : m->items()) {
        if (!v.is_string()) {
          r.Error("ssl_proxy_headers." + k, "expected a string");
        } else {
          c->ssl_proxy_headers.emplace_back(k, v.get<std::string>());
        }
      }
    }
  }
  const int64_t sts_seconds = r.Int("sts_seconds", 0, int64_t{1} << 40).value_or(0);
  if (sts_seconds > 0) {
    c->sts =
        absl::StrCat("max-age=", sts_seconds,
                     r.Bool("sts_include_subdomains").value_or(false) ? "; includeSubDomains" : "");
  } else {
    (void)r.Bool("sts_include_subdomains");
  }
  c->force_sts = r.Bool("force_sts_header").value_or(false);
  c->is_development = r.Bool("is_development").value_or(false);
  const std::string frame = r.String("custom_frame_options_value").value_or("");
  if (!frame.empty()) {
    c->headers.emplace_back("X-Frame-Options", frame);
  } else if (r.Bool("frame_deny").value_or(false)) {
    c->headers.emplace_back("X-Frame-Options", "DENY");
  }
  if (r.Bool("content_type_nosniff").value_or(false)) {
    c->headers.emplace_back("X-Content-Type-Options", "nosniff");
  }
  if (r.Bool("browser_xss_filter").value_or(false)) {
    c->headers.emplace_back("X-XSS-Protection", "1; mode=block");
  }
  if (auto v = r.String("content_security_policy"); v && !v->empty()) {
    c->headers.emplace_back("Content-Security-Policy", *v);
  }
  if (auto v = r.String("referrer_policy"); v && !v->empty()) {
    c->headers.emplace_back("Referrer-Policy", *v);
  }
  if (r.Has("hpkp_public_key")) {
    r.Warn("hpkp_public_key", "warning: ignored, as by KrakenD (browsers removed HPKP)");
  }
  return c;
}

namespace {

std::string_view Header(const http::Request& req, std::string_view name) {
  auto it = req.find(Bv(name));
  return it == req.end() ? std::string_view() : Sv(it->value());
}

class SecureExchange final : public http::Exchange {
 public:
  SecureExchange(http::ExchangePtr inner, const Config* config, bool sts)
      : inner_(std::move(inner)), config_(config), sts_(sts) {}
  const http::Request& request() const override { return inner_->request(); }
  http::Request& mutable_request() override { return inner_->mutable_request(); }
  std::string_view client_ip() const override { return inner_->client_ip(); }
  int worker_index() const override { return inner_->worker_index(); }
  boost::asio::io_context& io_context() override { return inner_->io_context(); }
  void Respond(http::Response&& response) override {
    for (const auto& [name, value] : config_->headers) response.set(Bv(name), Bv(value));
    if (sts_) response.set(bhttp::field::strict_transport_security, Bv(config_->sts));
    inner_->Respond(std::move(response));
  }

 private:
  http::ExchangePtr inner_;
  const Config* config_;  // owned by the Secure that outlives every exchange
  bool sts_;
};

}  // namespace

bool Secure::Handle(http::ExchangePtr* exchange) const {
  const Config& c = *config_;
  const http::Request& req = (*exchange)->request();
  // As KrakenD, /__health is outside the secure middleware (load balancers probe it by IP).
  const std::string_view target = Sv(req.target());
  if (target == "/__health" || StartsWith(target, "/__health?")) return false;
  if (!c.allowed_hosts.empty() && !c.is_development) {
    std::string_view host = Header(req, "Host");
    for (const std::string& h : c.host_proxy_headers) {
      if (std::string_view v = Header(req, h); !v.empty()) {
        host = v;
        break;
      }
    }
    bool allowed = false;
    for (const std::string& h : c.allowed_hosts) allowed |= EqualsIgnoreCase(h, host);
    if (!allowed) {
      http::Response res(bhttp::status::internal_server_error, 11);
      res.set(bhttp::field::content_type, Bv(http::kTextContentType));
      res.set("X-Content-Type-Options", "nosniff");
      res.body() = "Bad Host\n";  // Go's http.Error, as KrakenD answers
      (*exchange)->Respond(std::move(res));
      return true;
    }
  }
  bool sts = false;
  if (!c.sts.empty() && !c.is_development) {
    sts = c.force_sts;
    for (const auto& [name, value] : c.ssl_proxy_headers) {
      sts |= Header(req, name) == value;
    }
  }
  if (c.headers.empty() && !sts) return false;
  *exchange = std::make_shared<SecureExchange>(std::move(*exchange), &c, sts);
  return false;
}

}  // namespace sluice::components::httpsecure
