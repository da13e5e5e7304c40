#pragma once

// The metrics listener's request handler: GET (or HEAD) /metrics answers the Prometheus page;
// any other path is 404 and any other method 405.

#include <functional>
#include <string>

#include "gateway/http/exchange.h"

namespace sluice::admin {

class MetricsHandler : public http::Handler {
 public:
  // `render` builds the page; it runs on the metrics listener's own thread, per scrape.
  explicit MetricsHandler(std::function<std::string()> render) : render_(std::move(render)) {}

  void Handle(http::ExchangePtr exchange) override;

 private:
  std::function<std::string()> render_;
};

}  // namespace sluice::admin
