#include "tests/gateway/pipeline/stack_harness.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/components/registry.h"
#include "gateway/pipeline/stack.h"
#include "gtest/gtest.h"

namespace sluice::pipeline::fakes {

namespace bhttp = boost::beast::http;

void FakeBackend::Call(backend::BackendRequest&& request, const backend::CallContext&,
                       backend::Deadline deadline, backend::Done done) const {
  received_.push_back(request);
  calls_.push_back({std::move(request), deadline, std::move(done)});
}

void FakeBackend::Answer(backend::BackendResponse answer) {
  if (calls_.empty()) {
    ADD_FAILURE_AT(__FILE__, __LINE__);
    return;
  }
  Pending call = std::move(calls_.front());
  calls_.pop_front();
  call.done(std::move(answer));
}

backend::BackendResponse Reply(unsigned status, std::string body, const std::string& content_type,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  backend::BackendResponse r;
  r.status = status;
  if (!content_type.empty()) r.headers.set(bhttp::field::content_type, content_type);
  for (const auto& [name, value] : headers) r.headers.insert(name, value);
  r.headers.set(bhttp::field::content_length, std::to_string(body.size()));
  r.body = std::move(body);
  return r;
}

backend::BackendResponse Down(backend::ErrorKind kind, std::string message) {
  backend::BackendResponse r;
  r.error = backend::Error::Of(kind, std::move(message));
  return r;
}

class StackRunner::Exchange final : public http::Exchange {
 public:
  Exchange(http::Request request, boost::asio::io_context& ioc)
      : request_(std::move(request)), ioc_(ioc) {}
  const http::Request& request() const override { return request_; }
  http::Request& mutable_request() override { return request_; }
  std::string_view client_ip() const override { return "203.0.113.9"; }
  int worker_index() const override { return 0; }
  boost::asio::io_context& io_context() override { return ioc_; }
  void Respond(http::Response&& response) override {
    if (response_) ADD_FAILURE() << "Respond called twice";
    response_ = std::move(response);
  }
  std::optional<http::Response> response_;

 private:
  http::Request request_;
  boost::asio::io_context& ioc_;
};

StackRunner::~StackRunner() = default;

absl::StatusOr<std::unique_ptr<StackRunner>> StackRunner::Build(const std::string& file,
                                                                size_t endpoint) {
  config::LoadResult loaded = components::ParseConfig(
      file, "stack_test.json", [](const char*) { return std::optional<std::string>(); });
  if (!loaded.errors.empty()) {
    std::string all;
    for (const config::Diagnostic& d : loaded.errors) {
      absl::StrAppend(&all, d.path, ": ", d.message, "\n");
    }
    return absl::InvalidArgumentError(all);
  }
  std::unique_ptr<StackRunner> runner(new StackRunner());
  runner->config_ = loaded.config;
  runner->endpoint_ = endpoint;
  runner->registry_ = std::make_unique<metrics::Registry>(1, *loaded.config);
  StackRunner* r = runner.get();
  TransportFactory fakes = [r](const config::Endpoint&,
                               const config::Backend&) -> absl::StatusOr<backend::BackendPtr> {
    auto fake = std::make_unique<FakeBackend>();
    r->backends_.push_back(fake.get());
    return backend::BackendPtr(std::move(fake));
  };
  // The slots the registry gave the config's endpoints and backends, as the dispatcher uses them.
  const metrics::Slots slots = runner->registry_->Register(*loaded.config).value();
  size_t first_backend = 0;
  for (size_t i = 0; i < endpoint; ++i) {
    first_backend += loaded.config->endpoints.at(i).backends.size();
  }
  auto stack = BuildEndpointStack(
      *loaded.config, loaded.config->endpoints.at(endpoint), slots.endpoints.at(endpoint),
      absl::MakeConstSpan(slots.backends).subspan(first_backend), 1, fakes,
      loaded.config->tuning.metrics ? runner->registry_.get() : nullptr);
  if (!stack.ok()) return stack.status();
  runner->stack_ = std::move(*stack);
  return runner;
}

void StackRunner::Start(http::Request request, std::vector<std::string> params) {
  exchange_ = std::make_shared<Exchange>(std::move(request), ioc_);
  backend::Params p;
  const config::Endpoint& e = endpoint();
  for (size_t i = 0; i < params.size() && i < e.params.size(); ++i) {
    p.emplace_back(e.params[i], std::move(params[i]));
  }
  auto ctx = std::make_shared<RequestContext>(exchange_, std::move(p), 0, &ioc_);
  ctx->request_id = "test-request";
  ctx->call.request_id = ctx->request_id;
  ctx->start = Clock::now();
  ctx->deadline = ctx->start + absl::ToChronoNanoseconds(e.timeout);
  stack_->Start(std::move(ctx));
  Poll();
}

const std::optional<http::Response>& StackRunner::response() const {
  static const std::optional<http::Response> kNone;
  return exchange_ ? exchange_->response_ : kNone;
}

void StackRunner::Poll() {
  ioc_.restart();
  ioc_.poll();
}

http::Request Get(const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  http::Request req(bhttp::verb::get, target, 11);
  req.set(bhttp::field::host, "gw.test");
  for (const auto& [name, value] : headers) req.insert(name, value);
  return req;
}

}  // namespace sluice::pipeline::fakes
