#pragma once

// Internal to the HTTP front (server.cc, h2_connection.cc): the per-worker acceptor and the
// connections it owns. Not part of the library's interface.

#include <chrono>
#include <list>
#include <memory>
#include <string_view>

#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core/error.hpp"
#include "gateway/http/deadlines.h"
#include "gateway/http/executor.h"
#include "gateway/http/server.h"
#include "gateway/http/tls.h"
#include "gateway/http/tls_stream.h"

namespace sluice::http {

// Executor and Socket: gateway/http/executor.h.
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
// The client's TCP connection. A plain socket: the session's limits are Deadlines entries, so
// Beast's basic_stream (per-operation timers, a work guard and a shared state per operation)
// would only add cost.
using TcpStream = Socket;
// TLS over it (OpenSSL on the socket itself: http/tls_stream.h). HTTP/2 connections take it
// over from the session that made the handshake.
using TlsStream = TlsServerStream;
// What an HTTP/2 connection reads and writes: the plain socket (h2c) or the TLS stream (h2).
using H2Transport = MaybeTls<Socket, TlsStream>;

class Session;
class H2Connection;

inline std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// Readies a handler's response for the wire, HTTP/1.1 and HTTP/2 alike: no body on 1xx, 204 and
// 304; a HEAD answer keeps the Content-Length of the body it does not carry; Content-Length on
// the others; the identity header (X-Krakend) when configured.
void FinishResponse(const ServerOptions& options, const Request& request, Response* response);
// The access log line of one exchange, when access_log is on.
void LogAccess(const ServerOptions& options, std::string_view client_ip, const Request& request,
               unsigned status, std::chrono::steady_clock::time_point started);
// A plain-text answer the server writes itself (400, 408, 413, 431, 503).
Response TextResponse(unsigned status, std::string_view text);

struct Server::Listener : std::enable_shared_from_this<Server::Listener> {
  Listener(Server& s, int index)
      : server(s),
        worker(index),
        acceptor(s.workers_.context(index).get_executor()),
        retry_timer(s.workers_.context(index)),
        deadlines(Deadlines::Of(s.workers_.context(index))) {}

  void DoAccept();
  void OnAccept(boost::beast::error_code ec, Socket socket);
  // The worker a new connection goes to: this one, or one with fewer connections.
  Listener& LeastLoaded();
  // Counts `n` more connections of this worker (negative: fewer) in `load` and the server's open
  // connections: sessions and HTTP/2 connections while they live, and a connection accepted for
  // this worker until it starts.
  void Count(int64_t n);
  // Serves a connection another worker accepted (see OnAccept): `fd` is this listener's now.
  void Adopt(int fd);
  // Starts serving an accepted connection on this worker; ends its Count(1) from OnAccept.
  void Serve(Socket socket);
  // At the connection limit: accepts again once a connection (of any worker) has closed.
  void WaitForRoom();
  // Graceful shutdown on this worker: stop accepting, close idle HTTP/1.1 connections, send
  // GOAWAY on HTTP/2 connections.
  void Drain();

  boost::asio::io_context& io_context() { return server.workers_.context(worker); }
  const ServerOptions& options() const { return server.options_; }
  Handler& handler() { return server.handler_; }
  std::atomic<uint64_t>& total_connections() { return server.total_connections_; }
  // Takes `bytes` from the process's sluice/http.max_buffered_request_bytes, which the HTTP/2
  // streams and HTTP/1.1 bodies of every worker share; false (nothing taken) when they do not
  // fit. ReturnBuffered gives them back.
  bool TakeBuffered(uint64_t bytes) {
    std::atomic<uint64_t>& total = server.buffered_request_bytes_;
    if (total.fetch_add(bytes, std::memory_order_relaxed) + bytes >
        server.options_.max_buffered_request_bytes) {
      total.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void ReturnBuffered(uint64_t bytes) {
    server.buffered_request_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  boost::asio::io_context& context() { return server.workers_.context(worker); }

  Server& server;
  int worker;
  Acceptor acceptor;
  boost::asio::ip::tcp protocol = boost::asio::ip::tcp::v4();  // the acceptor's (set at Start)
  boost::asio::steady_timer retry_timer;
  Deadlines& deadlines;  // the worker's: every session's timeouts
  // This worker's client connections (HTTP/1.1 sessions and HTTP/2 connections) and those
  // accepted for it and not started yet: what a new connection is balanced on. Every worker
  // reads it on each accept: on a cache line of its own, away from what this worker writes.
  alignas(64) std::atomic<int64_t> load{0};
  bool draining = false;                    // touched only on this worker's thread
  bool at_limit = false;                    // paused at max_connections (this worker's thread)
  std::list<Session*> sessions;             // open HTTP/1.1 connections of this worker
  std::list<H2Connection*> h2_connections;  // open HTTP/2 connections of this worker
};

}  // namespace sluice::http
