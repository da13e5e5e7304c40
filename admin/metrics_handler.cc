#include "admin/metrics_handler.h"

#include <string_view>

#include "admin/prometheus.h"
#include "boost/beast/http/field.hpp"
#include "boost/beast/http/status.hpp"
#include "boost/beast/http/verb.hpp"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::admin {

namespace bhttp = boost::beast::http;

void MetricsHandler::Handle(http::ExchangePtr exchange) {
  const http::Request& req = exchange->request();
  std::string_view target = Sv(req.target());
  std::string_view path = target.substr(0, target.find('?'));
  http::Response res;
  res.version(11);
  if (path != "/metrics") {
    res.result(bhttp::status::not_found);
    res.set(bhttp::field::content_type, Bv(http::kTextContentType));
    res.body() = "404 not found: metrics are at /metrics\n";
  } else if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    res.result(bhttp::status::method_not_allowed);
    res.set(bhttp::field::allow, "GET, HEAD");
    res.set(bhttp::field::content_type, Bv(http::kTextContentType));
    res.body() = "405 method not allowed\n";
  } else {
    res.result(bhttp::status::ok);
    res.set(bhttp::field::content_type, Bv(kPrometheusContentType));
    res.body() = render_();
  }
  exchange->Respond(std::move(res));
}

}  // namespace sluice::admin
