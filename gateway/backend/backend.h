#pragma once

// The Backend interface: what every way of calling a backend implements (REST over HTTP/1.1,
// gRPC), and what every backend-level component wraps (circuit breaker, rate limit, cache), as
// Lura's backend proxies wrap each other. A backend stack is built once per configured backend
// (pipeline/stack.h) and called once per request.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "boost/asio/io_context.hpp"
#include "gateway/backend/error.h"
#include "gateway/common/params.h"
#include "gateway/http/fields.h"
#include "nlohmann/json.hpp"

namespace sluice::backend {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using Fields = http::Fields;

// The endpoint's path parameters (gateway/common/params.h).
using Params = PathParams;

// What a backend is asked, transport-neutral. Built from the client's request by the request
// builder (pipeline/request_builder.h), which has already applied the allow-lists.
struct BackendRequest {
  std::string method;  // upper-case
  // url_pattern expanded (values percent-encoded), then '?' and the allow-listed query strings
  // as the client encoded them: what an HTTP backend is sent.
  std::string target;
  // The allow-listed query strings again, percent-decoded ("a+b" as "a b"), in order: what a
  // backend that maps them onto fields reads (gRPC). Filled only for such backends.
  std::vector<std::pair<std::string, std::string>> query;
  Fields headers;    // forwarded headers: allow-listed, X-Forwarded-*, User-Agent, X-Request-Id
  std::string body;  // empty for methods without a body
  const Params* params = nullptr;  // the endpoint's {params}; outlives the call
  uint32_t host = 0;               // which of the backend's hosts (set by the balancer)
  // Set by a decode stage that renders answers directly (pipeline/decode.h): a backend whose
  // answers come structured (gRPC) may then answer with `rendered_json` instead of `data`.
  bool render_json = false;
};

// A backend's answer: a status, headers and body, or, for backends whose answer is already
// structured (gRPC), the decoded object in `data`; or an error. After the decode stage of a
// backend stack (pipeline/stack.h), `data` holds the shaped object and failures are errors.
struct BackendResponse {
  bool ok() const { return error.ok(); }

  Error error;
  unsigned status = 0;
  Fields headers;
  std::string body;
  std::optional<nlohmann::json> data;
  // Set by the decode stage's direct path (pipeline/decode.h), or by a gRPC backend the request
  // asked to `render_json`: `body` holds the answer already rendered as the endpoint's JSON
  // object, and `data` stays empty.
  bool rendered_json = false;
  std::string url;  // REST answers whose status is not 200/201: the URL that gave it
};

// Per-call facts a backend needs besides the request: whose event loop it runs on, and the
// request's id for log lines (it outlives every call of the request).
struct CallContext {
  int worker = 0;                          // index in [0, worker count): per-worker pools
  boost::asio::io_context* ioc = nullptr;  // that worker's event loop
  std::string_view request_id;
};

using Done = absl::AnyInvocable<void(BackendResponse&&)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // Calls the backend with `request`, finishing by `deadline`. Runs on ctx's worker thread.
  // `done` runs exactly once, later (never inside Call: a backend that answers at once posts to
  // ctx.ioc), on the same worker thread, with the answer or an error; nothing throws.
  // Implementations are immutable after construction, except for per-worker state indexed by
  // ctx.worker.
  virtual void Call(BackendRequest&& request, const CallContext& ctx, Deadline deadline,
                    Done done) const = 0;
};

using BackendPtr = std::unique_ptr<const Backend>;

}  // namespace sluice::backend
