#pragma once

// The public listener's TLS connection: OpenSSL reading and writing the socket itself
// (SSL_set_fd), driven by the worker's event loop.
//
// Asio's ssl::stream puts a BIO pair between OpenSSL and the socket: every record is copied once
// more, each connection holds two 17 KiB buffers of Asio's and two of the pair's besides
// OpenSSL's own, and a head and a body written together leave as two records and two sends.
// Here a connection holds what OpenSSL holds (its buffers are let go between records:
// SSL_MODE_RELEASE_BUFFERS, as nginx sets it), reads take whole socket reads (read-ahead), and
// small pieces written together are gathered into one record.
//
// The interface is the part of ssl::stream that Sluice's server uses, with the same completion
// semantics (a handler never runs inside the call that starts it; at most one read and one write
// at a time) and the same errors (asio::ssl::error::stream_truncated for a peer that closed
// without close_notify, the ssl category for OpenSSL's errors).

#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <utility>

#include "boost/asio/buffer.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/error.hpp"
#include "boost/asio/ssl/stream_base.hpp"
#include "boost/system/error_code.hpp"
#include "gateway/http/executor.h"

namespace sluice::http {

class TlsServerStream {
 public:
  using executor_type = Executor;
  using error_code = boost::system::error_code;

  // Takes the connection; the handshake is the server's side.
  TlsServerStream(Socket&& socket, boost::asio::ssl::context& context);
  ~TlsServerStream();
  TlsServerStream(const TlsServerStream&) = delete;
  TlsServerStream& operator=(const TlsServerStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  Socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  // `type` is accepted for ssl::stream's signature; the handshake is always the server's.
  template <class Handler>
  void async_handshake(boost::asio::ssl::stream_base::handshake_type /*type*/, Handler&& handler) {
    Run(
        Op::kHandshake, boost::asio::mutable_buffer(),
        [h = std::forward<Handler>(handler)](const error_code& ec, std::size_t) mutable { h(ec); },
        true);
  }

  // A graceful close's close_notify (an answer is complete, or an idle connection is let go),
  // sent if the socket takes it now; the peer's is not waited for. Nothing once an operation
  // failed or before the handshake finished. Clients reading to the end of the stream (OpenSSL
  // 3's among them) otherwise see a truncation ("unexpected eof while reading").
  void SendCloseNotify();

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    Run(Op::kRead, FirstOf<boost::asio::mutable_buffer>(buffers), std::forward<Handler>(handler),
        true);
  }

  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    const boost::asio::const_buffer b = Gather(buffers);
    Run(Op::kWrite, boost::asio::mutable_buffer(const_cast<void*>(b.data()), b.size()),
        std::forward<Handler>(handler), true);
  }

 private:
  enum class Op { kHandshake, kRead, kWrite };
  // What one attempt came to.
  struct Attempt {
    int want = 0;  // SSL_ERROR_WANT_READ / SSL_ERROR_WANT_WRITE: wait for the socket, try again
    error_code ec;
    std::size_t bytes = 0;
  };

  // Up to one record of the buffers: the first buffer itself when it holds that much (or is all
  // there is), else the pieces copied into the worker's scratch buffer, so a head and a small
  // body leave as one record in one send.
  template <class Buffers>
  static boost::asio::const_buffer Gather(const Buffers& buffers) {
    const boost::asio::const_buffer first = FirstOf<boost::asio::const_buffer>(buffers);
    if (first.size() >= kRecord || first.size() == boost::asio::buffer_size(buffers)) return first;
    char* scratch = Scratch();
    return {scratch, boost::asio::buffer_copy(boost::asio::buffer(scratch, kRecord), buffers)};
  }

  template <class Buffer, class Buffers>
  static Buffer FirstOf(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer b(*it);
      if (b.size() > 0) return b;
    }
    return Buffer();
  }

  // Tries the operation, then completes it (posted when `first`: a handler never runs inside
  // the call that started it) or waits for the socket and tries again with the same bytes.
  template <class Handler>
  void Run(Op op, boost::asio::mutable_buffer buffer, Handler&& handler, bool first) {
    const Attempt a = Try(op, buffer);
    if (a.want == 0) {
      if (op == Op::kWrite && !pending_.empty()) pending_ = std::string();
      if (first) {
        boost::asio::post(get_executor(), [h = std::forward<Handler>(handler), ec = a.ec,
                                           n = a.bytes]() mutable { h(ec, n); });
      } else {
        handler(a.ec, a.bytes);
      }
      return;
    }
    // A write from the worker's scratch buffer keeps its bytes here while it waits: OpenSSL
    // takes the retry from another address (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), not others.
    if (op == Op::kWrite && buffer.data() == Scratch()) {
      pending_.assign(static_cast<const char*>(buffer.data()), buffer.size());
      buffer = boost::asio::mutable_buffer(pending_.data(), pending_.size());
    }
    const auto wait = a.want == SSL_ERROR_WANT_READ ? Socket::wait_read : Socket::wait_write;
    socket_.async_wait(
        wait, [this, op, buffer, h = std::forward<Handler>(handler)](const error_code& ec) mutable {
          if (ec) return h(ec, std::size_t{0});
          Run(op, buffer, std::move(h), false);
        });
  }

  Attempt Try(Op op, boost::asio::mutable_buffer buffer);
  static char* Scratch();  // kRecord bytes, one per thread

  static constexpr std::size_t kRecord = 16 * 1024;  // TLS's largest record payload

  Socket socket_;
  SSL* ssl_ = nullptr;
  // A gathered write that waits: its bytes, kept until it completes (empty otherwise).
  std::string pending_;
  bool failed_ = false;  // an operation failed (not the peer's close_notify)
};

}  // namespace sluice::http
