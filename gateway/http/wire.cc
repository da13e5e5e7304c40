#include "gateway/http/wire.h"

#include "boost/beast/http/status.hpp"

namespace sluice::http {

namespace bhttp = boost::beast::http;

namespace {

// Reserves what the head's lines will take (`first`: the start line's), so the head is written
// into one allocation rather than regrown three or four times.
template <typename Fields>
void ReserveHead(const Fields& fields, size_t first, std::string* out) {
  size_t size = out->size() + first + 2;
  for (const auto& f : fields) size += f.name_string().size() + f.value().size() + 4;
  out->reserve(size);
}

template <typename Fields>
void AppendFields(const Fields& fields, std::string* out) {
  for (const auto& f : fields) {
    out->append(f.name_string().data(), f.name_string().size());
    out->append(": ");
    out->append(f.value().data(), f.value().size());
    out->append("\r\n");
  }
  out->append("\r\n");
}

}  // namespace

bool IsHopByHop(bhttp::field f) {
  switch (f) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_authenticate:
    case bhttp::field::proxy_authorization:
    case bhttp::field::proxy_connection:
    case bhttp::field::te:
    case bhttp::field::trailer:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::content_length:
      return true;
    default:
      return false;
  }
}

void AppendResponseHead(const bhttp::response<bhttp::string_body>& response, std::string* out) {
  const unsigned code = response.result_int();
  ReserveHead(response, 16 + response.reason().size(), out);
  out->append("HTTP/1.1 ");
  out->append(std::to_string(code));
  out->push_back(' ');
  boost::string_view reason = response.reason();
  if (reason.empty() || reason == "<unknown-status>") reason = "Unknown";
  out->append(reason.data(), reason.size());
  out->append("\r\n");
  AppendFields(response, out);
}

void AppendRequestHead(const bhttp::request<bhttp::string_body>& request, std::string* out) {
  ReserveHead(request, request.method_string().size() + request.target().size() + 12, out);
  out->append(request.method_string().data(), request.method_string().size());
  out->push_back(' ');
  out->append(request.target().data(), request.target().size());
  out->append(" HTTP/1.1\r\n");
  AppendFields(request, out);
}

}  // namespace sluice::http
