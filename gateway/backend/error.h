#pragma once

// The one error type of a backend call, whatever the transport. It records what went wrong,
// where it came from and whether the call may be tried again, so the status policy, aggregation
// (partial answers), circuit breaking and metrics decide from the error alone; its HTTP status is
// decided in one place (pipeline/errors.h).

#include <string>
#include <string_view>

namespace sluice::backend {

enum class ErrorKind {
  kNone,
  kConnect,      // could not connect (refused, unreachable, name not resolved)
  kTimeout,      // the endpoint deadline passed before the backend answered
  kReset,        // the connection broke mid-exchange
  kStatus,       // the backend answered with a status the policy counts as failure
  kDecode,       // the body could not be decoded with the backend's encoding
  kBadResponse,  // malformed HTTP from the backend, or a body over the size limit
  kRequest,      // the client's request does not map onto the backend's (gRPC: a field of the
                 // wrong type, an unknown field): the client's fault, answered 400
  kRejected,     // the gateway did not call the backend: its circuit breaker is open, or its
                 // qos/ratelimit/proxy limit is spent
};

std::string_view ToString(ErrorKind kind);

// Who caused a failure (pingora's ErrorSource): the client's request, the backend, or the
// gateway itself (shutting down, a limit it enforces).
enum class ErrorSource { kNone, kClient, kBackend, kGateway };

std::string_view ToString(ErrorSource source);

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;  // for logs: never sent to clients unless configured
  unsigned status = 0;  // kStatus: the backend's HTTP status
  int grpc_code = -1;   // gRPC backends: the call's status code (0-16); -1 otherwise
  ErrorSource source = ErrorSource::kNone;
  // Whether sending the same request again could succeed without the client changing it
  // (connect failures, resets before an answer, UNAVAILABLE). Breakers and retries read it.
  bool retryable = false;

  bool ok() const { return kind == ErrorKind::kNone; }

  // The usual error of each kind: its source and whether it is retryable follow from the kind.
  static Error Of(ErrorKind kind, std::string message);
  // A gRPC call that ended with `code` (non-zero).
  static Error Grpc(int code, std::string message);
};

}  // namespace sluice::backend
