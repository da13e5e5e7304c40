// Per-request cost of security/cors at the dispatcher: Cors::Handle on an actual cross-origin
// request (wrap the exchange) plus the wrapped Respond adding the headers, and a preflight.
// Bounded loop; prints ns per request. Run: bazel run -c opt //tests/gateway/components/cors:cors_bench

#include <chrono>
#include <cstdio>
#include <memory>

#include "gateway/components/registry.h"
#include "gateway/components/security/cors/cors.h"

namespace {

using sluice::http::Request;
using sluice::http::Response;

class Sink : public sluice::http::Exchange {
 public:
  explicit Sink(const Request& req) : req_(req) {}
  const Request& request() const override { return req_; }
  Request& mutable_request() override { return const_cast<Request&>(req_); }
  std::string_view client_ip() const override { return "127.0.0.1"; }
  int worker_index() const override { return 0; }
  boost::asio::io_context& io_context() override { return ioc_; }
  void Respond(Response&& res) override { headers += res.count("Vary"); }
  size_t headers = 0;

 private:
  const Request& req_;
  boost::asio::io_context ioc_;
};

}  // namespace

int main() {
  auto r = sluice::components::ParseConfig(
      R"({"version": 3, "extra_config": {"security/cors": {"allow_origins":
        ["https://a.example", "https://*.corp.example"], "expose_headers": ["x-trace"],
        "allow_credentials": true, "max_age": "1h"}}, "endpoints": []})",
      "bench.json", [](const char*) { return std::optional<std::string>(); });
  const auto* c = r.config->components.Get<sluice::components::cors::Config>("security/cors");
  sluice::components::cors::Cors cors(
      std::shared_ptr<const sluice::components::cors::Config>(r.config, c));
  Request get(boost::beast::http::verb::get, "/users/1", 11);
  get.set("Origin", "https://x.corp.example");
  Request pre(boost::beast::http::verb::options, "/users/1", 11);
  pre.set("Origin", "https://a.example");
  pre.set("Access-Control-Request-Method", "GET");
  constexpr int kIterations = 1000000;
  for (const auto& [name, req] : {std::pair<const char*, Request*>{"actual", &get}, {"preflight", &pre}}) {
    auto sink = std::make_shared<Sink>(*req);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kIterations; ++i) {
      sluice::http::ExchangePtr ex = sink;
      if (!cors.Handle(&ex)) ex->Respond(Response(boost::beast::http::status::ok, 11));
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %.0f ns/request (%zu answers)\n", name, ns / kIterations, sink->headers);
  }
  return 0;
}
