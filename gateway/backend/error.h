#pragma once

// The one error type of a backend call, whatever the transport. It records what went wrong so
// the status policy, aggregation (partial answers) and metrics can decide from the error alone.

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
};

std::string_view ToString(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;   // for logs: never sent to clients unless configured
  unsigned status = 0;   // backend HTTP status, for kStatus (gRPC: the status it maps to)
  int grpc_code = -1;    // gRPC backends: the call's status code (0-16); -1 for REST
};

}  // namespace sluice::backend
