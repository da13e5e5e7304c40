#pragma once

// Runs a real endpoint stack (pipeline::BuildEndpointStack, from a KrakenD config parsed by the
// real loader) against fake backends, on the test's thread. Each FakeBackend holds the calls it
// gets until the test answers them, so a test decides what every backend says and in which order
// the answers arrive; the client's answer is captured by a fake exchange.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "gateway/backend/backend.h"
#include "gateway/config/config.h"
#include "gateway/http/exchange.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline::fakes {

// A backend that records its calls and answers when told.
class FakeBackend final : public backend::Backend {
 public:
  struct Pending {
    backend::BackendRequest request;
    backend::Deadline deadline;
    backend::Done done;
  };

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

  // Calls received and not answered yet, oldest first.
  size_t pending() const { return calls_.size(); }
  const backend::BackendRequest& request(size_t i = 0) const { return calls_.at(i).request; }
  // Every request this backend received, answered or not.
  const std::vector<backend::BackendRequest>& received() const { return received_; }
  // Answers the oldest pending call.
  void Answer(backend::BackendResponse answer);

 private:
  mutable std::deque<Pending> calls_;
  mutable std::vector<backend::BackendRequest> received_;
};

// What a backend sent: a status, a Content-Type (none when empty), more headers and a body.
backend::BackendResponse Reply(
    unsigned status, std::string body, const std::string& content_type = "application/json",
    const std::vector<std::pair<std::string, std::string>>& headers = {});
// A call that produced no HTTP answer (refused, timed out, reset...).
backend::BackendResponse Down(backend::ErrorKind kind, std::string message);

class StackRunner {
 public:
  // Parses `file` (components included) and builds the stack of endpoint `endpoint` as the
  // dispatcher does, with one FakeBackend per backend; one worker.
  static absl::StatusOr<std::unique_ptr<StackRunner>> Build(const std::string& file,
                                                            size_t endpoint = 0);
  ~StackRunner();

  const config::ServiceConfig& config() const { return *config_; }
  const config::Endpoint& endpoint() const { return config_->endpoints.at(endpoint_); }
  FakeBackend& backend(size_t i) { return *backends_.at(i); }
  size_t backends() const { return backends_.size(); }
  const Stack& stack() const { return *stack_; }
  metrics::Registry& registry() { return *registry_; }

  // Sends `request` into the stack with `params` (the endpoint's {params} values, in order).
  // Returns once every stage has run as far as it can without a backend answer.
  void Start(http::Request request, std::vector<std::string> params = {});
  // The client's answer, once the stack gave one.
  const std::optional<http::Response>& response() const;
  // Runs handlers the stack posted (none today; kept for stages that post).
  void Poll();

 private:
  StackRunner() = default;
  class Exchange;

  std::shared_ptr<const config::ServiceConfig> config_;
  size_t endpoint_ = 0;
  std::vector<FakeBackend*> backends_;  // owned by the stack's bottom layers
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<const Stack> stack_;
  boost::asio::io_context ioc_;
  std::shared_ptr<Exchange> exchange_;
};

// A GET request for `target` with `headers`.
http::Request Get(const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace sluice::pipeline::fakes
