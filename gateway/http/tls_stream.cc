#include "gateway/http/tls_stream.h"

#include <openssl/err.h>

#include <cerrno>
#include <memory>

#include "boost/asio/error.hpp"
#include "boost/throw_exception.hpp"

namespace sluice::http {

namespace asio = boost::asio;

TlsServerStream::TlsServerStream(Socket&& socket, asio::ssl::context& context)
    : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
  if (ssl_ == nullptr) {
    boost::throw_exception(boost::system::system_error(
        error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()), "SSL_new"));
  }
  // OpenSSL reads and writes the socket; the event loop only says when it is ready.
  socket_.non_blocking(true);
  SSL_set_fd(ssl_, socket_.native_handle());
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  // Whole socket reads rather than a record header, then its body: one recv per record or
  // fewer. What is read past a record waits in OpenSSL, which the next read takes first.
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_accept_state(ssl_);
}

TlsServerStream::~TlsServerStream() { SSL_free(ssl_); }  // the socket's BIO does not close it

void TlsServerStream::SendCloseNotify() {
  if (failed_ || !socket_.is_open() || !SSL_is_init_finished(ssl_)) return;
  ERR_clear_error();
  // 1 or 0: sent (0: the peer's not read, which is not waited for); below 0: the socket's send
  // buffer is full and it closes without (TCP takes a small send whole or not at all while
  // its buffer is over its limit, so the 24-byte alert is not cut).
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

char* TlsServerStream::Scratch() {
  thread_local std::unique_ptr<char[]> scratch(new char[kRecord]);
  return scratch.get();
}

TlsServerStream::Attempt TlsServerStream::Try(Op op, asio::mutable_buffer buffer) {
  Attempt a;
  // OpenSSL holds the socket's number, not the socket: once closed, that number may already be
  // another connection's (a wait that completed in the same epoll event as the close still runs).
  if (!socket_.is_open()) {
    a.ec = asio::error::operation_aborted;
    return a;
  }
  if (op != Op::kHandshake && buffer.size() == 0) return a;  // nothing to move: done at once
  ERR_clear_error();  // the queue is the thread's: what another connection left is not ours
  errno = 0;
  int ret = 0;
  switch (op) {
    case Op::kHandshake:
      ret = SSL_do_handshake(ssl_);
      break;
    case Op::kRead:
      ret = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &a.bytes);
      break;
    case Op::kWrite:
      ret = SSL_write_ex(ssl_, buffer.data(), buffer.size(), &a.bytes);
      break;
  }
  if (ret == 1) return a;
  a.bytes = 0;
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl_, ret);
  switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      a.want = error;
      return a;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      a.ec = asio::error::eof;
      return a;
    default:
      break;
  }
  failed_ = true;  // no close_notify after this (OpenSSL forbids SSL_shutdown after a fatal error)
  const unsigned long queued = ERR_get_error();
  if (queued != 0 && ERR_GET_REASON(queued) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    a.ec = error_code(static_cast<int>(queued), asio::error::get_ssl_category());
  } else if (error == SSL_ERROR_SYSCALL && queued == 0 && saved_errno != 0) {
    a.ec = error_code(saved_errno, boost::system::system_category());
  } else {
    a.ec = asio::ssl::error::stream_truncated;  // the TCP connection ended, no close_notify
  }
  ERR_clear_error();
  return a;
}

}  // namespace sluice::http
