#include "gateway/http/server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/bind_handler.hpp"
#include "boost/beast/core/error.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/write.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/http/h2_connection.h"
#include "gateway/http/listener.h"
#include "gateway/http/parser.h"
#include "gateway/http/readiness.h"
#include "gateway/http/simple_head.h"
#include "gateway/http/tls.h"
#include "gateway/http/wire.h"

namespace sluice::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Pending connections the kernel queues per acceptor before we accept them.
constexpr int kListenBacklog = 4096;
// After an accept error (e.g. EMFILE) wait this long before retrying, instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
// Bytes read per socket read: a typical API request (headers and small body) fits in one.
constexpr std::size_t kReadChunk = 8192;
// How long a connection refused in the middle of its request (413, 431, 503) keeps reading and
// dropping what the client still sends, after its answer and FIN went out (see Linger).
constexpr auto kLingerTime = std::chrono::seconds(5);

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

using ClientStream = MaybeTls<TcpStream, TlsStream>;

// A socket between two workers: closed if the worker it was handed to never runs.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

ClientStream MakeClientStream(Socket&& socket, std::shared_ptr<ServerTls> tls) {
  if (tls == nullptr) return ClientStream(TcpStream(std::move(socket)));
  auto stream = std::make_unique<TlsStream>(TcpStream(std::move(socket)), tls->context());
  return ClientStream(std::move(stream), std::move(tls));
}

// What Go's server answers to plain HTTP on a TLS port (KrakenD's answer too).
constexpr std::string_view kPlainHttpOnTls =
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

// How far `bytes` (the first read of a connection) matches the HTTP/2 connection preface.
enum class Preface { kNo, kPartial, kYes };
Preface MatchPreface(std::string_view bytes) {
  const size_t n = std::min(bytes.size(), kH2Preface.size());
  if (bytes.substr(0, n) != kH2Preface.substr(0, n)) return Preface::kNo;
  return n == kH2Preface.size() ? Preface::kYes : Preface::kPartial;
}

// RFC 9112 6.3: a request's body length is known only from `Transfer-Encoding: chunked` or from
// Content-Length. Any other coding ("gzip", "chunked, identity", "xchunked"), more than one
// Transfer-Encoding field, or Transfer-Encoding next to Content-Length leaves the length to
// interpretation; Beast would read such a request as bodyless (or by Content-Length), so the body
// would be parsed as the next request (request smuggling behind a proxy that reads it otherwise).
// Such a request gets 400 and the connection closes.
bool AmbiguousFraming(const RequestParser& parser) {
  const auto& head = parser.get();
  auto te = head.find(bhttp::field::transfer_encoding);
  if (te == head.end()) return false;  // the common case: one lookup
  if (head.count(bhttp::field::transfer_encoding) != 1) return true;
  if (head.find(bhttp::field::content_length) != head.end()) return true;
  return !EqualsIgnoreCase(TrimOws(Sv(te->value())), "chunked");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WorkerPool

WorkerPool::WorkerPool(int count) {
  for (int i = 0; i < count; ++i) {
    // Each context is run by exactly one thread, and while it runs, every socket on it is read,
    // written, cancelled and closed only from that thread (other threads post to it; start-up
    // and teardown on the main thread come before and after it runs): Asio may skip the
    // per-socket lock it takes on each operation started and each epoll event (about four
    // lock/unlock pairs per proxied request). Posts keep their lock.
    contexts_.push_back(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
  }
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      auto guard = asio::make_work_guard(*c);
      // A bug that throws out of a handler would end the whole process (std::terminate). The
      // worker logs it and goes on serving its other connections; the one request is lost.
      for (;;) {
        try {
          c->run();
          return;
        } catch (const std::exception& e) {
          log::Error("worker: unhandled exception in a handler: {}", e.what());
        }
      }
    });
  }
}

void WorkerPool::Stop() {
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

// ---------------------------------------------------------------------------------------------
// Listener and Session

class Session : public Exchange, public std::enable_shared_from_this<Session> {
 public:
  Session(Socket&& socket, std::shared_ptr<Server::Listener> listener, const ServerOptions& options,
          Handler& handler, std::shared_ptr<ServerTls> tls)
      : stream_(MakeClientStream(std::move(socket), std::move(tls))),
        listener_(std::move(listener)),
        options_(options),
        handler_(handler),
        deadline_(listener_->deadlines, [this] { shared_from_this()->Close(); }) {
    beast::error_code ec;
    tcp::endpoint remote = client_socket().remote_endpoint(ec);
    if (!ec) client_ip_ = remote.address().to_string();
    client_socket().set_option(tcp::no_delay(true), ec);
    self_in_list_ = listener_->sessions.insert(listener_->sessions.end(), this);
    listener_->Count(1);
    listener_->total_connections().fetch_add(1, std::memory_order_relaxed);
  }

  ~Session() override {
    Uncharge();
    listener_->sessions.erase(self_in_list_);
    if (counted_) listener_->Count(-1);
  }

  // With TLS the handshake comes first (ALPN chooses HTTP/2 or HTTP/1.1). With use_h2c the first
  // bytes decide between HTTP/1.1 and HTTP/2 (prior knowledge).
  void Start() {
    if (stream_.tls() != nullptr) return Handshake();
    options_.use_h2c ? Sniff() : DoRead();
  }

  // Called on shutdown: a connection waiting for its next request is closed now; one with a
  // request in flight closes after writing its response (see Respond).
  void CloseIfIdle() {
    if (state_ == State::kIdle) Close();
  }

  // Exchange
  const Request& request() const override { return request_; }
  Request& mutable_request() override { return request_; }
  std::string_view client_ip() const override { return client_ip_; }
  int worker_index() const override { return listener_->worker; }
  asio::io_context& io_context() override { return listener_->context(); }
  void Respond(Response&& response) override;

 private:
  enum class State { kIdle, kReading, kBusy, kWriting, kLingering, kClosed };

  // The TCP connection, under TLS or not.
  TcpStream& client_socket() {
    return stream_.tls() != nullptr ? stream_.tls()->next_layer() : stream_.plain();
  }
  void Handshake();
  void OnHandshake(beast::error_code ec);

  void Sniff();
  void OnSniff(beast::error_code ec, std::size_t bytes);
  // Gives the socket (and the bytes read and not parsed) to an HTTP/2 connection; this session
  // ends. `upgrade`: the request that asked for `Upgrade: h2c`.
  void HandOffToH2(std::optional<Request> upgrade);
  // A parser for the next request, with the listener's limits (only where Beast reads it).
  void NewParser();
  void DoRead();
  void OnFirstBytes(beast::error_code ec, std::size_t bytes);
  // Empties request_ for the next request, keeping its storage unless a large request grew it.
  void ClearRequest();
  // Hands request_ (read whole) to the handler, or to HTTP/2 when it asks for the upgrade.
  void Dispatch();
  void ReadHeader();
  void OnHeader(beast::error_code ec, std::size_t bytes);
  void ReadBody();
  void ReadSomeBody();
  void OnReadSomeBody(beast::error_code ec, std::size_t bytes);
  // Charges what the request body holds beyond the last charge (its declared length, or what a
  // chunked body has grown to) against the process's max_buffered_request_bytes (the budget
  // HTTP/2 streams share). False: the budget is spent.
  bool ChargeBody();
  // Returns the connection's charge: its request is answered (or the connection is gone).
  void Uncharge();
  // The limit on what the connection does next (idle wait, head, body, write): when it passes,
  // the connection closes and the pending read or write fails. Zero: no limit.
  void ExpireAfter(absl::Duration limit);
  void OnRequest();
  void FailRead(beast::error_code ec);
  void WriteError(bhttp::status status, std::string_view text);
  // Writes the response: at once when the socket takes it whole (plain TCP, the common case),
  // else asynchronously under write_timeout.
  void DoWrite();
  void OnWrite(beast::error_code ec, std::size_t bytes);
  // The response is out (or failed: keep_alive_ is then false). `unwound`: from OnWrite, not
  // from inside Respond.
  void Written(bool unwound);
  // Closing with unread request bytes would make the kernel send a reset, which can destroy the
  // answer before the client reads it, and fails a client still writing its body before it
  // reads (RFC 9112 section 9.6). Instead the rest is read and dropped until the client closes,
  // for at most kLingerTime.
  void Linger();
  void Discard();
  void Close();

  ClientStream stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request request_;
  Response response_;
  std::string write_head_;  // serialised head of response_, reused across requests
  std::string client_ip_;
  std::shared_ptr<Server::Listener> listener_;
  const ServerOptions& options_;
  Handler& handler_;
  std::list<Session*>::iterator self_in_list_;
  // In the worker's count of connections until the socket goes to an H2Connection, which counts
  // it from then on (this object may outlive the hand-off by its read handler).
  bool counted_ = true;
  Deadlines::Entry deadline_;
  State state_ = State::kIdle;
  bool keep_alive_ = true;
  WaitedRead first_read_;        // DoRead's
  bool unread_request_ = false;  // answered before the whole request was read: linger
  uint64_t charged_ = 0;         // body bytes charged against max_buffered_request_bytes
  std::chrono::steady_clock::time_point started_;
};

void Session::Sniff() {
  if (listener_->draining) return Close();
  state_ = State::kIdle;
  ExpireAfter(options_.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&Session::OnSniff, shared_from_this()));
}

void Session::OnSniff(beast::error_code ec, std::size_t bytes) {
  if (ec) return FailRead(ec);
  buffer_.commit(bytes);
  switch (MatchPreface(BytesOf(buffer_.data()))) {
    case Preface::kYes:
      return HandOffToH2(std::nullopt);
    case Preface::kPartial:
      return Sniff();  // the preface is 24 bytes; a client may send it in pieces
    case Preface::kNo:
      // HTTP/1.1: DoRead parses what is buffered (ReadHeader, under read_header_timeout).
      return DoRead();
  }
}

void Session::Handshake() {
  // The whole handshake must arrive within read_header_timeout, as a request head must.
  state_ = State::kReading;
  ExpireAfter(options_.read_header_timeout);
  stream_.tls()->async_handshake(
      asio::ssl::stream_base::server,
      beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
}

void Session::OnHandshake(beast::error_code ec) {
  if (ec) {
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
      // Plain HTTP on the TLS port: say so in plain HTTP, as Go does, and close.
      state_ = State::kWriting;
      ExpireAfter(options_.write_timeout);
      asio::async_write(
          client_socket(), asio::buffer(kPlainHttpOnTls.data(), kPlainHttpOnTls.size()),
          [self = shared_from_this()](beast::error_code, std::size_t) { self->Close(); });
      return;
    }
    log::Debug("connection from {}: TLS handshake failed: {}", client_ip_, ec.message());
    return Close();
  }
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream_.tls()->native_handle(), &protocol, &length);
  if (length == 2 && protocol[0] == 'h' && protocol[1] == '2') return HandOffToH2(std::nullopt);
  DoRead();
}

void Session::HandOffToH2(std::optional<Request> upgrade) {
  deadline_.Disarm();
  state_ = State::kClosed;
  listener_->Count(-1);
  counted_ = false;
  const auto data = buffer_.data();
  std::string_view received(static_cast<const char*>(data.data()), data.size());
  // An upgrade's body goes to stream 1 with its charge.
  const uint64_t charged = std::exchange(charged_, 0);
  if (stream_.tls() != nullptr) {
    auto [tls, keep] = stream_.ReleaseTls();
    H2Connection::Start(H2Transport(std::move(tls), std::move(keep)), listener_, client_ip_,
                        received, std::move(upgrade), charged);
  } else {
    H2Connection::Start(H2Transport(std::move(stream_.plain())), listener_, client_ip_, received,
                        std::move(upgrade), charged);
  }
  buffer_.consume(buffer_.size());
}

void Session::NewParser() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
  parser_->body_limit(options_.max_body_bytes);
}

void Session::DoRead() {
  if (buffer_.size() > 0) {  // pipelined bytes are already here
    NewParser();
    return ReadHeader();
  }
  // Between requests: a close from here on is a graceful one (close_notify under TLS).
  state_ = State::kIdle;
  // Shutdown began while this connection was busy (its response was already promised
  // keep-alive): it must not start waiting for another request.
  if (listener_->draining) return Close();
  // Waiting for the first byte of the next request: the keep-alive idle limit applies. A plain
  // read (not Beast's, which only completes once a whole header is parsed) tells us when the
  // request starts, so the header clock can start then.
  ExpireAfter(options_.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  // Whether it waits for epoll (no bytes were there), and so may note a short read: nothing else
  // is started on the socket until OnFirstBytes (http/readiness.h).
  first_read_.Started(client_socket(), stream_.tls() == nullptr ? kReadChunk : 0);
}

void Session::OnFirstBytes(beast::error_code ec, std::size_t bytes) {
  if (ec) return FailRead(ec);
  // A short read that waited emptied the socket: the next request's read (after this answer)
  // waits for epoll unless the loop sees bytes or a close meanwhile (http/readiness.h).
  first_read_.Finished(client_socket(), bytes);
  buffer_.commit(bytes);
  // Fast path: a typical request arrives whole in one read. Parse it here, without arming the
  // header timer and without another trip through the event loop; a bodyless one in the common
  // form without Beast's parser (http::ParseSimpleRequestHead; anything else is Beast's).
  // Parsed into request_ itself: on a kept-alive connection one request's fields storage serves
  // the next (no allocation, no move of the message).
  std::size_t head_size = 0;
  ClearRequest();
  if (ParseSimpleRequestHead(BytesOf(buffer_.data()), options_.max_header_bytes, &request_,
                             &head_size)) {
    buffer_.consume(head_size);
    deadline_.Disarm();
    return Dispatch();
  }
  request_.clear();  // what the simple parse filled in; Beast's parser fills a message of its own
  NewParser();
  parser_->eager(true);
  const std::size_t used = parser_->put(buffer_.data(), ec);
  buffer_.consume(used);
  if (ec == bhttp::error::need_more) return ReadHeader();
  if (ec) return FailRead(ec);
  if (!parser_->is_header_done()) return ReadHeader();
  if (AmbiguousFraming(*parser_)) return WriteError(bhttp::status::bad_request, "400 bad request");
  if (parser_->is_done()) return OnRequest();
  ReadBody();
}

void Session::ReadHeader() {
  // From the first byte on, the whole header must arrive within read_header_timeout, however
  // slowly the client trickles it (slowloris).
  state_ = State::kReading;
  ExpireAfter(options_.read_header_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(beast::error_code ec, std::size_t) {
  if (ec) return FailRead(ec);
  if (AmbiguousFraming(*parser_)) return WriteError(bhttp::status::bad_request, "400 bad request");
  if (parser_->is_done()) return OnRequest();
  ReadBody();
}

void Session::ReadBody() {
  ExpireAfter(options_.read_timeout);
  // async_read_header left the parser one step per call: a chunked body would then take a
  // completion (and a charge) per chunk header and per chunk.
  parser_->eager(true);
  // A declared length is charged before any of the body is read (and before `100 Continue`
  // invites it): Beast's body reserves that much at once.
  if (!ChargeBody()) return WriteError(bhttp::status::service_unavailable, kOverBudgetText);
  const auto& head = parser_->get();
  auto expect = head.find(bhttp::field::expect);
  if (expect != head.end() && EqualsIgnoreCase(Sv(expect->value()), "100-continue") &&
      buffer_.size() == 0) {
    // The client waits for this before sending the body (curl: up to 1 s for bodies > 1 KiB).
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->FailRead(ec);
                        self->ReadSomeBody();
                      });
    return;
  }
  ReadSomeBody();
}

// The body is read piece by piece, so what it holds is charged as it arrives: connections that
// each trickle in a large body cannot together hold more than max_buffered_request_bytes.
void Session::ReadSomeBody() {
  bhttp::async_read_some(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::OnReadSomeBody, shared_from_this()));
}

void Session::OnReadSomeBody(beast::error_code ec, std::size_t) {
  if (ec) return FailRead(ec);
  if (parser_->is_done()) return OnRequest();
  if (!ChargeBody()) {
    return WriteError(bhttp::status::service_unavailable, kOverBudgetText);
  }
  ReadSomeBody();
}

bool Session::ChargeBody() {
  const uint64_t held =
      std::max<uint64_t>(parser_->get().body().size(), parser_->content_length().value_or(0));
  if (held <= charged_) return true;
  if (!listener_->TakeBuffered(held - charged_)) return false;
  charged_ = held;
  return true;
}

void Session::Uncharge() {
  if (charged_ == 0) return;
  listener_->ReturnBuffered(charged_);
  charged_ = 0;
}

void Session::ExpireAfter(absl::Duration limit) {
  // A zero limit in the config means "no limit", as in Go's http.Server.
  if (limit <= absl::ZeroDuration()) {
    deadline_.Disarm();
  } else {
    deadline_.ArmAfter(ToChrono(limit));
  }
}

void Session::OnRequest() {
  deadline_.Disarm();
  if (!ChargeBody()) {
    return WriteError(bhttp::status::service_unavailable, kOverBudgetText);
  }
  request_ = parser_->release();
  Dispatch();
}

void Session::Dispatch() {
  if (options_.use_h2c && stream_.tls() == nullptr && IsH2cUpgrade(request_))
    return HandOffToH2(std::move(request_));
  keep_alive_ = request_.keep_alive();
  if (options_.access_log) started_ = std::chrono::steady_clock::now();
  state_ = State::kBusy;
  handler_.Handle(shared_from_this());
}

void Session::FailRead(beast::error_code ec) {
  if (ec == bhttp::error::header_limit) {
    return WriteError(bhttp::status::request_header_fields_too_large,
                      "431 request header fields too large");
  }
  if (ec == bhttp::error::body_limit) {
    return WriteError(bhttp::status::payload_too_large, "413 request entity too large");
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
      ec == bhttp::error::partial_message || ec == asio::ssl::error::stream_truncated) {
    return Close();
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
    return WriteError(bhttp::status::bad_request, "400 bad request");
  }
  log::Debug("connection from {}: read failed: {}", client_ip_, ec.message());
  Close();
}

void Session::WriteError(bhttp::status status, std::string_view text) {
  keep_alive_ = false;
  unread_request_ = true;
  response_ = TextResponse(static_cast<unsigned>(status), text);
  response_.keep_alive(false);
  DoWrite();
}

void Session::Respond(Response&& response) {
  if (state_ != State::kBusy) return;  // connection already gone
  response_ = std::move(response);
  if (listener_->draining) keep_alive_ = false;
  FinishResponse(options_, request_, &response_);
  response_.keep_alive(keep_alive_);
  LogAccess(options_, client_ip_, request_, response_.result_int(), started_);
  DoWrite();
}

void Session::DoWrite() {
  state_ = State::kWriting;
  write_head_.clear();
  AppendResponseHead(response_, &write_head_);
  // The body of a HEAD answer (or 204/304) was cleared in Respond: its size is what is sent.
  HeadAndBody buffers = {asio::buffer(write_head_), asio::buffer(response_.body())};
  if (stream_.tls() == nullptr && WriteNow(stream_.plain(), buffers) > 0 && Size(buffers) == 0) {
    return Written(false);
  }
  ExpireAfter(options_.write_timeout);
  asio::async_write(stream_, buffers,
                    beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, std::size_t) {
  if (ec) keep_alive_ = false;
  Written(true);
}

void Session::Written(bool unwound) {
  if (!keep_alive_) {
    if (stream_.tls() != nullptr) stream_.tls()->SendCloseNotify();
    beast::error_code ignored;
    client_socket().shutdown(tcp::socket::shutdown_send, ignored);
    return unread_request_ ? Linger() : Close();
  }
  response_ = Response();
  Uncharge();
  // Written inside Respond, the request may still be in use up the stack: the next one
  // replaces it.
  if (unwound) ClearRequest();
  DoRead();
}

void Session::ClearRequest() {
  // What a typical request holds is kept (a few hundred bytes: an idle connection's read buffer
  // is 8 KiB); larger fields or a body are given back.
  constexpr std::size_t kKeptBytes = 4096;
  if (request_.buffer_bytes() > kKeptBytes || request_.body().capacity() > kKeptBytes) {
    request_ = Request();
    return;
  }
  request_.clear();
  request_.body().clear();
}

void Session::Linger() {
  state_ = State::kLingering;
  // Nothing of the request is kept: its budget and its partial body are given back now.
  Uncharge();
  parser_.reset();
  response_ = Response();
  buffer_.consume(buffer_.size());
  deadline_.ArmAfter(kLingerTime);
  Discard();
}

void Session::Discard() {
  // Under TLS too the bytes are read from TCP: they are dropped, never decrypted.
  client_socket().async_read_some(buffer_.prepare(kReadChunk),
                                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (ec) return self->Close();
                                    self->Discard();
                                  });
}

void Session::Close() {
  if (state_ == State::kClosed) return;
  // Idle between requests (keep-alive timeout, shutdown): a graceful end under TLS too.
  if (state_ == State::kIdle && stream_.tls() != nullptr) stream_.tls()->SendCloseNotify();
  state_ = State::kClosed;
  deadline_.Disarm();
  beast::error_code ignored;
  client_socket().close(ignored);
}

void Server::Listener::DoAccept() {
  acceptor.async_accept(beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Server::Listener::OnAccept(beast::error_code ec, Socket socket) {
  if (draining || !acceptor.is_open()) return;
  if (ec) {
    log::Warn("accept on worker {} failed: {}", worker, ec.message());
    retry_timer.expires_after(kAcceptRetryDelay);
    retry_timer.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) self->DoAccept();
    });
    return;
  }
  Listener& target = LeastLoaded();
  // Counted from here (the session counts itself once made, see Serve), so that the limit below
  // and the next accept's choice of worker see it.
  target.Count(1);
  // The next accept is asked for first: a connection that fails to start (an OpenSSL allocation
  // failure throws) must not stop this worker accepting.
  if (server.open_connections_.load(std::memory_order_relaxed) >= server.options_.max_connections) {
    WaitForRoom();
  } else {
    DoAccept();
  }
  if (&target == this) return Serve(std::move(socket));
  const int fd = socket.release(ec);
  if (ec) return target.Count(-1);  // not open: nothing to hand over
  asio::post(target.context(), [target = target.shared_from_this(), fd = OwnedFd(fd)]() mutable {
    target->Adopt(fd.release());
  });
}

// The kernel spreads connections over the workers' SO_REUSEPORT acceptors by a hash of their
// addresses, which can leave one worker most of a few long-lived connections (a load balancer's,
// HTTP/2 clients'). A new connection goes to the worker with the fewest, as HAProxy balances its
// threads, when that worker has fewer by one (the accepting worker holding up to 15) or by an
// eighth of the accepting worker's count (16 and more): a hand-off costs about 1 µs (a post and
// two epoll_ctl), which clients opening a connection per request would otherwise pay on every
// other one.
Server::Listener& Server::Listener::LeastLoaded() {
  const int64_t own = load.load(std::memory_order_relaxed);
  Listener* least = this;
  int64_t fewest = own;
  for (const auto& other : server.listeners_) {
    const int64_t n = other->load.load(std::memory_order_relaxed);
    if (n < fewest) {
      fewest = n;
      least = other.get();
    }
  }
  return own - fewest >= std::max<int64_t>(1, own / 8) ? *least : *this;
}

void Server::Listener::Count(int64_t n) {
  load.fetch_add(n, std::memory_order_relaxed);
  server.open_connections_.fetch_add(n, std::memory_order_relaxed);
}

void Server::Listener::Serve(Socket socket) {
  Count(-1);  // the session counts itself
  // A connection handed over while this worker began draining ends as a connection still in
  // the kernel's backlog does.
  if (draining) return;
  std::shared_ptr<ServerTls> tls;
  if (server.options_.tls != nullptr) tls = server.options_.tls->current();
  std::make_shared<Session>(std::move(socket), shared_from_this(), server.options_, server.handler_,
                            std::move(tls))
      ->Start();
}

void Server::Listener::Adopt(int fd) {
  Socket socket(context().get_executor());
  beast::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return Count(-1);
  }
  Serve(std::move(socket));
}

// Polled rather than signalled: a connection closing on another worker would otherwise have to
// wake this one, and the limit is a guard, not the steady state.
void Server::Listener::WaitForRoom() {
  if (!at_limit) {
    at_limit = true;
    log::Warn(
        "worker {}: {} client connections are open, the limit (sluice/http.max_connections):"
        " new connections wait until one closes",
        worker, server.options_.max_connections);
  }
  retry_timer.expires_after(kAcceptRetryDelay);
  retry_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->draining) return;
    if (self->server.open_connections_.load(std::memory_order_relaxed) >=
        self->server.options_.max_connections) {
      return self->WaitForRoom();
    }
    self->at_limit = false;
    self->DoAccept();
  });
}

void Server::Listener::Drain() {
  draining = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  retry_timer.cancel();
  // CloseIfIdle and Drain may destroy connections (and erase them from the lists): iterate
  // over copies.
  std::vector<Session*> snapshot(sessions.begin(), sessions.end());
  for (Session* s : snapshot) s->CloseIfIdle();
  std::vector<H2Connection*> h2_snapshot(h2_connections.begin(), h2_connections.end());
  for (H2Connection* c : h2_snapshot) c->Drain();
}

// ---------------------------------------------------------------------------------------------
// Server

void FinishResponse(const ServerOptions& options, const Request& request, Response* response) {
  const unsigned code = response->result_int();
  if (code < 200 || code == 204 || code == 304) {
    response->body().clear();
    response->erase(bhttp::field::content_length);
  } else if (request.method() == bhttp::verb::head) {
    const std::size_t size = response->body().size();
    response->body().clear();
    response->content_length(size);
  } else {
    response->content_length(response->body().size());
  }
  if (!options.identity_header_name.empty()) {
    response->set(options.identity_header_name, options.identity_header_value);
  }
}

void LogAccess(const ServerOptions& options, std::string_view client_ip, const Request& request,
               unsigned status, std::chrono::steady_clock::time_point started) {
  if (!options.access_log) return;
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  log::Info("[ACCESS] {} {} {} {} {}us", client_ip, Sv(request.method_string()),
            Sv(request.target()), status, micros);
}

Response TextResponse(unsigned status, std::string_view text) {
  Response res(static_cast<bhttp::status>(status), 11);
  res.set(bhttp::field::content_type, Bv(kTextContentType));
  res.body() = text;
  res.content_length(text.size());
  return res;
}

uint64_t DefaultMaxBufferedRequestBytes(const ServerOptions& options) {
  return std::max<uint64_t>(uint64_t{256} << 20,
                            4 * (options.max_header_bytes + options.max_body_bytes));
}

uint64_t H2ConnectionBudget(const ServerOptions& options) {
  const uint64_t one = options.max_header_bytes + options.max_body_bytes + (uint64_t{1} << 20);
  return std::min(std::max<uint64_t>(one, uint64_t{16} << 20), options.max_buffered_request_bytes);
}

int64_t DefaultMaxConnections() {
  constexpr int64_t kFloor = 64;
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return int64_t{1} << 20;
  }
  return std::max<int64_t>(kFloor, static_cast<int64_t>(limit.rlim_cur / 2));
}

Server::Server(ServerOptions options, WorkerPool& workers, Handler& handler)
    : options_(std::move(options)), workers_(workers), handler_(handler) {
  if (options_.max_connections <= 0) options_.max_connections = DefaultMaxConnections();
  if (options_.max_buffered_request_bytes == 0) {
    options_.max_buffered_request_bytes = DefaultMaxBufferedRequestBytes(options_);
  }
}

Server::~Server() = default;

absl::Status Server::Start() {
  beast::error_code ec;
  asio::ip::address address =
      asio::ip::make_address(options_.listen_ip.empty() ? "0.0.0.0" : options_.listen_ip, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("listen_ip \"", options_.listen_ip, "\": ", ec.message()));
  uint16_t port = options_.port;
  if (options_.reuse_port && port != 0) {
    // SO_REUSEPORT lets this process's workers share the port, but also lets a second Sluice
    // (an old instance, a typo'd deploy) bind the same port silently and take half the
    // connections. A socket without the option can only bind a port nobody listens on.
    tcp::acceptor probe(workers_.context(0));
    tcp::endpoint endpoint(address, port);
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", address.to_string(), ":", port, ": ", ec.message(),
          ec == asio::error::address_in_use ? " (another process serves this port)" : ""));
    }
    probe.close(ec);
  }
  for (int i = 0; i < workers_.size(); ++i) {
    auto listener = std::make_shared<Listener>(*this, i);
    tcp::endpoint endpoint(address, port);
    auto& acc = listener->acceptor;
    acc.open(endpoint.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && options_.reuse_port) acc.set_option(ReusePort(true), ec);
    if (!ec) acc.bind(endpoint, ec);
    if (!ec) acc.listen(kListenBacklog, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", address.to_string(), ":", port, ": ", ec.message()));
    }
    // With port 0 the first acceptor picks the port; the others join it through SO_REUSEPORT.
    port = acc.local_endpoint().port();
    listener->protocol = endpoint.protocol();
    listeners_.push_back(std::move(listener));
  }
  port_ = port;
  for (auto& l : listeners_) {
    asio::post(workers_.context(l->worker), [l] { l->DoAccept(); });
  }
  return absl::OkStatus();
}

std::vector<int64_t> Server::worker_connections() const {
  std::vector<int64_t> counts;
  counts.reserve(listeners_.size());
  for (const auto& l : listeners_) counts.push_back(l->load.load(std::memory_order_relaxed));
  return counts;
}

void Server::BeginShutdown() {
  for (auto& l : listeners_) {
    asio::post(workers_.context(l->worker), [l] { l->Drain(); });
  }
}

}  // namespace sluice::http
