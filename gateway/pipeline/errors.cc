#include "gateway/pipeline/errors.h"

#include <string>
#include <utility>

#include "boost/beast/http/field.hpp"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"
#include "gateway/http/wire.h"
#include "nlohmann/json.hpp"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;

namespace {

// KrakenD's answer to a failed backend, whatever happened.
constexpr unsigned kBackendFailureStatus = 500;
constexpr unsigned kBadRequest = 400;

}  // namespace

unsigned HttpStatusFromGrpc(int code) {
  static constexpr unsigned kTable[] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
                                        400, 409, 400, 501, 500, 503, 500, 401};
  return code >= 0 && code < 17 ? kTable[code] : 500;
}

unsigned HttpStatusFor(const backend::Error& error) {
  if (error.grpc_code > 0) return HttpStatusFromGrpc(error.grpc_code);
  if (error.kind == backend::ErrorKind::kRequest) return kBadRequest;
  return kBackendFailureStatus;
}

http::Response FailureResponse(const Failure& failure, const FailureOptions& options) {
  const backend::Error& error = failure.error;
  http::Response res;
  res.version(11);
  res.set(Bv(http::kCompletedHeader), "false");
  if (error.grpc_code > 0) {
    res.result(HttpStatusFor(error));
    res.set(bhttp::field::content_type, "application/json");
    res.body() = nlohmann::json{{"code", error.grpc_code}, {"message", error.message}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
  }
  const bool pass = failure.pass_backend_status && error.status >= 100 && error.status <= 999;
  res.result(pass ? error.status : HttpStatusFor(error));
  if (options.return_error_msg) {
    res.set(bhttp::field::content_type, Bv(http::kTextContentType));
    res.body() = pass ? failure.backend_body : error.message;
  }
  return res;
}

void ErrorMapping::OnResponse(RequestContext& ctx) const {
  if (ctx.response) return;
  if (!ctx.failure) return;  // the stack answers 500 and logs the bug
  ctx.response = FailureResponse(*ctx.failure, options_);
}

}  // namespace sluice::pipeline
