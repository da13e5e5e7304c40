#pragma once

// The one stage signature of an endpoint's stack, and the per-request context stages share.
//
// An endpoint's stack is a list of stages built once at start-up (pipeline/stack.h,
// BuildEndpointStack). A request walks it top to bottom through OnRequest; the bottom stage
// calls the backends; the answer walks back up through OnResponse, in reverse order, and the
// stack hands ctx.response to the client. A stage that has nothing to do for an endpoint is not
// in its stack (no `if` per request). The shape is Envoy's filter chain with Pingora's closed
// set of outcomes; the list of stages reads like Lura's newStack.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "gateway/backend/backend.h"
#include "gateway/http/exchange.h"
#include "nlohmann/json.hpp"

namespace sluice::pipeline {

using Clock = std::chrono::steady_clock;

class Stack;

// What OnRequest tells the stack to do next.
enum class StageResult {
  kContinue,  // pass the request to the next stage
  kRespond,   // the answer is decided (ctx.response or ctx.failure): start the response path here
  kPending,   // the stage finishes later and calls ctx.Resume() on the request's worker thread
};

// Why no backend data reached the client, for the error mapping stage (pipeline/errors.h).
struct Failure {
  backend::Error error;
  // The backend's own status and body reach the client (backend/http return_error_code).
  bool pass_backend_status = false;
  std::string backend_body;  // the failed backend's body, for return_error_msg
};

// One client request on its way through a stack. Created by the dispatcher, owned through
// shared_ptr by whoever waits for it (a stage that went asynchronous keeps it alive). Touched
// only on the request's worker thread.
class RequestContext : public std::enable_shared_from_this<RequestContext> {
 public:
  RequestContext(http::ExchangePtr exchange, backend::Params params, int worker,
                 boost::asio::io_context* ioc)
      : exchange(std::move(exchange)), params(std::move(params)), call{worker, ioc, {}} {}

  // Continues the stack after a stage returned kPending: kContinue goes on downwards, kRespond
  // starts the response path at that stage.
  void Resume(StageResult result);

  const http::Request& request() const { return exchange->request(); }

  // Set by the dispatcher.
  http::ExchangePtr exchange;
  backend::Params params;     // the endpoint's {params}, percent-decoded
  backend::CallContext call;  // worker index and event loop, for backend calls
  std::string request_id;     // X-Request-Id: the client's, or generated
  Clock::time_point start;
  backend::Deadline deadline;
  // The configuration this request's stack belongs to, kept alive until the request ends (a
  // reload may have replaced it meanwhile).
  std::shared_ptr<const void> keep_alive;

  // Filled by stages.
  std::vector<backend::BackendResponse> answers;  // one per backend, in declaration order
  nlohmann::json data;                            // merged (and shaped) data of the answers
  // Instead of `data`, when the decode stages rendered the answers (merged when several).
  std::string rendered_json;
  bool has_data = false;
  bool complete = false;                                     // every backend answered successfully
  std::vector<std::pair<std::string, std::string>> headers;  // answer headers passed on
  std::optional<Failure> failure;                            // set when there is no data
  std::optional<http::Response> response;                    // the client's answer
  size_t pending = 0;  // backend calls the bottom stage still waits for

 private:
  friend class Stack;
  const Stack* stack_ = nullptr;
  size_t at_ = 0;  // the stage running or waiting
};

using ContextPtr = std::shared_ptr<RequestContext>;

class Stage {
 public:
  virtual ~Stage() = default;

  // Short name for logs and docs ("merge", "auth/validator").
  virtual std::string_view name() const = 0;

  // Request path, top to bottom. Return kContinue to pass the request on; kRespond after setting
  // ctx.response (or ctx.failure) to answer from here; kPending to finish later with
  // ctx.Resume(). Runs on the request's worker thread and must not block.
  virtual StageResult OnRequest(RequestContext& ctx) const = 0;

  // Response path, bottom to top, for this stage and every stage above it once the stage that
  // answered is known. The default does nothing.
  virtual void OnResponse(RequestContext& /*ctx*/) const {}
};

using StagePtr = std::unique_ptr<const Stage>;

// An endpoint's stages, top first. Immutable once built; shared by every worker.
class Stack {
 public:
  explicit Stack(std::vector<StagePtr> stages) : stages_(std::move(stages)) {}

  // Runs `ctx` through the stages. The client gets ctx.response exactly once, when the response
  // path has reached the top (a 500 if no stage set one).
  void Start(ContextPtr ctx) const;

  const std::vector<StagePtr>& stages() const { return stages_; }

 private:
  friend class RequestContext;
  // Runs OnRequest from ctx.at_ on.
  void Forward(RequestContext& ctx) const;
  // Runs OnResponse from `from` up to the top, then responds.
  void Backward(RequestContext& ctx, size_t from) const;

  std::vector<StagePtr> stages_;
};

}  // namespace sluice::pipeline
