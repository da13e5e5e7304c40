#pragma once

// The one place a failure becomes the client's HTTP answer. Backends record what went wrong
// (backend::Error: kind, source, gRPC code); stages record why no data reached the client
// (pipeline::Failure); this file decides the status and the body.

#include <string_view>

#include "gateway/backend/error.h"
#include "gateway/http/exchange.h"
#include "gateway/pipeline/stage.h"

namespace sluice::pipeline {

// The canonical HTTP status of a gRPC status code (google/rpc/code.proto; 500 for codes past 16).
unsigned HttpStatusFromGrpc(int code);

// The status a failed backend call gives the client when no policy passes the backend's own
// (backend/http return_error_code): a gRPC code's canonical status; 400 for a client request
// Sluice could not map onto the backend's; otherwise 500, as KrakenD answers any failure.
unsigned HttpStatusFor(const backend::Error& error);

struct FailureOptions {
  // KrakenD's router.return_error_msg: the error (or the backend's body, when its status is
  // passed) as a text/plain body.
  bool return_error_msg = false;
};

// The client's answer to `failure`, with X-Krakend-Completed: false (Lura's handler sets it on
// every answer without data, no-op endpoints included). A gRPC failure (or a request the gRPC
// mapping refused) answers {"code", "message"} as grpc-gateway and Envoy's transcoder do; anything
// else has an empty body unless return_error_msg.
http::Response FailureResponse(const Failure& failure, const FailureOptions& options);

// Turns ctx.failure into ctx.response on the way up when no stage below answered.
class ErrorMapping final : public Stage {
 public:
  explicit ErrorMapping(FailureOptions options) : options_(options) {}

  std::string_view name() const override { return "error-mapping"; }
  StageResult OnRequest(RequestContext&) const override { return StageResult::kContinue; }
  void OnResponse(RequestContext& ctx) const override;

 private:
  FailureOptions options_;
};

}  // namespace sluice::pipeline
