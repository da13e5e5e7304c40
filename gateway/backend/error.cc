#include "gateway/backend/error.h"

#include <utility>

namespace sluice::backend {

namespace {

// google/rpc/code.proto. UNAVAILABLE is the one code gRPC documents as safe to retry.
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcUnavailable = 14;

}  // namespace

std::string_view ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kReset:
      return "reset";
    case ErrorKind::kStatus:
      return "status";
    case ErrorKind::kDecode:
      return "decode";
    case ErrorKind::kBadResponse:
      return "bad_response";
    case ErrorKind::kRequest:
      return "request";
    case ErrorKind::kRejected:
      return "rejected";
  }
  return "unknown";
}

std::string_view ToString(ErrorSource source) {
  switch (source) {
    case ErrorSource::kNone:
      return "none";
    case ErrorSource::kClient:
      return "client";
    case ErrorSource::kBackend:
      return "backend";
    case ErrorSource::kGateway:
      return "gateway";
  }
  return "unknown";
}

Error Error::Of(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  e.source = kind == ErrorKind::kNone       ? ErrorSource::kNone
             : kind == ErrorKind::kRequest  ? ErrorSource::kClient
             : kind == ErrorKind::kRejected ? ErrorSource::kGateway
                                            : ErrorSource::kBackend;
  e.retryable = kind == ErrorKind::kConnect || kind == ErrorKind::kReset;
  return e;
}

Error Error::Grpc(int code, std::string message) {
  // The server's own verdict, whatever the code: a backend error (an INVALID_ARGUMENT the server
  // sent still counts as the backend's answer; only Sluice's own mapping of the client's input
  // is kRequest).
  Error e = Of(code == kGrpcUnavailable        ? ErrorKind::kConnect
               : code == kGrpcDeadlineExceeded ? ErrorKind::kTimeout
                                               : ErrorKind::kStatus,
               std::move(message));
  e.grpc_code = code;
  e.retryable = code == kGrpcUnavailable;
  return e;
}

}  // namespace sluice::backend
