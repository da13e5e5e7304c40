#include "gateway/backend/error.h"

namespace sluice::backend {

std::string_view ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kReset: return "reset";
    case ErrorKind::kStatus: return "status";
    case ErrorKind::kDecode: return "decode";
    case ErrorKind::kBadResponse: return "bad_response";
    case ErrorKind::kRequest: return "request";
  }
  return "unknown";
}

}  // namespace sluice::backend
