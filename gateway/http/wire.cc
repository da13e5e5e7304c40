#include "gateway/http/wire.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "boost/beast/http/status.hpp"
#include "gateway/common/strings.h"

namespace sluice::http {

namespace bhttp = boost::beast::http;

namespace {

// A head is written in one resize and plain copies: through std::string::append, its dozens of
// short pieces (four per field) each paid a capacity check and a call.
class HeadWriter {
 public:
  // `size`: at least what will be put; the string is cut back to what was.
  HeadWriter(std::string* out, size_t size) : out_(out) {
    const size_t at = out->size();
    out->resize(at + size);
    p_ = out->data() + at;
  }
  ~HeadWriter() { out_->resize(static_cast<size_t>(p_ - out_->data())); }

  void Put(boost::string_view s) { Put(s.data(), s.size()); }
  void Put(const char* data, size_t size) {
    CopyBytes(p_, data, size);
    p_ += size;
  }
  void Put(char c) { *p_++ = c; }

 private:
  std::string* out_;
  char* p_;
};

// What `fields` take on the wire, with the blank line that ends the head.
template <typename Fields>
size_t FieldsSize(const Fields& fields) {
  size_t size = 2;
  for (const auto& f : fields) size += f.name_string().size() + f.value().size() + 4;
  return size;
}

template <typename Fields>
void PutFields(const Fields& fields, HeadWriter& w) {
  for (const auto& f : fields) {
    w.Put(f.name_string());
    w.Put(": ", 2);
    w.Put(f.value());
    w.Put("\r\n", 2);
  }
  w.Put("\r\n", 2);
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

void AppendResponseHead(const Response& response, std::string* out) {
  unsigned code = response.result_int();
  if (code > 999) code = 999;  // Beast keeps codes to three digits; never more than the room
  boost::string_view reason = response.reason();
  if (reason.empty() || reason == "<unknown-status>") reason = "Unknown";
  HeadWriter w(out, 9 + 3 + 1 + reason.size() + 2 + FieldsSize(response));
  w.Put("HTTP/1.1 ", 9);
  if (code >= 100) w.Put(static_cast<char>('0' + code / 100));
  if (code >= 10) w.Put(static_cast<char>('0' + code / 10 % 10));
  w.Put(static_cast<char>('0' + code % 10));
  w.Put(' ');
  w.Put(reason);
  w.Put("\r\n", 2);
  PutFields(response, w);
}

void AppendRequestHead(const Request& request, std::string* out) {
  HeadWriter w(
      out, request.method_string().size() + 1 + request.target().size() + 11 + FieldsSize(request));
  w.Put(request.method_string());
  w.Put(' ');
  w.Put(request.target());
  w.Put(" HTTP/1.1\r\n", 11);
  PutFields(request, w);
}

std::size_t WriteNow(Socket& socket, HeadAndBody& buffers) {
  std::array<iovec, 2> iov;
  for (size_t i = 0; i < 2; ++i) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data());
    iov[i].iov_len = buffers[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  ssize_t n;
  do {
    n = ::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  const auto written = static_cast<std::size_t>(n);
  std::size_t left = written;
  for (auto& b : buffers) {
    const std::size_t step = std::min(left, b.size());
    b += step;
    left -= step;
  }
  return written;
}

}  // namespace sluice::http
