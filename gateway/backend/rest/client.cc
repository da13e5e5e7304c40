#include "gateway/backend/rest/client.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/basic_stream_socket.hpp"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/bind_handler.hpp"
#include "boost/beast/core/error.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/read_size.hpp"
#include "boost/beast/http/error.hpp"
#include "gateway/common/strings.h"
#include "gateway/http/deadlines.h"
#include "gateway/http/executor.h"
#include "gateway/http/parser.h"
#include "gateway/http/readiness.h"
#include "gateway/http/simple_head.h"
#include "gateway/http/tls.h"
#include "gateway/http/wire.h"

namespace sluice::backend::rest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

using http::Socket;

// Read buffer per backend connection: a typical API response (head and body) fits in one read,
// where Beast's default growth from 512 bytes costs several reads per response.
constexpr std::size_t kResponseReadBuffer = 8 * 1024;
// Largest single read: big answers are read in pieces this size, and the size limit is checked
// after each, so a body overshoots max_response_bytes by at most this before the call fails.
constexpr std::size_t kMaxReadBytes = 64 * 1024;
// Bytes of one unfinished element (a header line, a chunk-size line with its extensions) held
// while waiting for its end. Beast bounds the head at header_limit (8 KiB); this also bounds the
// chunk lines, which it does not.
constexpr std::size_t kMaxPendingBytes = 64 * 1024;
// Informational (1xx) answers skipped before the final one (Go's http.Transport allows 5).
constexpr int kMaxInformational = 5;

using TlsSocket = asio::ssl::stream<Socket>;
using Stream = http::MaybeTls<Socket, TlsSocket>;

Stream MakeStream(asio::io_context& ioc, asio::ssl::context* tls) {
  if (tls == nullptr) return Stream(std::in_place, ioc.get_executor());
  return Stream(std::make_unique<TlsSocket>(ioc.get_executor(), *tls), nullptr);
}

struct Connection {
  // `tls`: the client context for an https host, null for http.
  Connection(asio::io_context& ioc, asio::ssl::context* tls) : stream(MakeStream(ioc, tls)) {
    if (tls != nullptr) http::AttachSessionSlot(stream.tls()->native_handle(), &session);
    buffer.reserve(kResponseReadBuffer);
  }
  Socket& socket() { return stream.tls() != nullptr ? stream.tls()->next_layer() : stream.plain(); }
  http::TlsSessionSlot session;  // before `stream`: its SSL object points here
  Stream stream;
  beast::flat_buffer buffer;  // bytes read and not yet parsed; empty whenever pooled
  std::chrono::steady_clock::time_point idle_since;
};

std::string HostHeader(std::string_view scheme, std::string_view host, uint16_t port) {
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  std::string name(host);
  if (host.find(':') != std::string_view::npos) name = "[" + name + "]";
  return default_port ? name : absl::StrCat(name, ":", port);
}

bool IsRedirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Whether an idle pooled connection can still carry a request: the backend has neither closed
// it (EOF, reset) nor written to it. One non-blocking peek (a system call; Usable says when it is
// needed); without it a request could be written into a connection the backend already closed,
// and a POST could then only fail (see Replayable) or be sent twice. Bytes the backend wrote
// unasked also fail it: they would be read as the next caller's answer.
bool IsAlive(Socket& socket) {
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Whether a request may be sent again after its connection broke before any response byte (Go's
// net/http rule): the backend may have processed a POST before the connection died.
bool Replayable(const Request& request) {
  const bhttp::verb m = request.method();
  const bool safe = m == bhttp::verb::get || m == bhttp::verb::head || m == bhttp::verb::options ||
                    m == bhttp::verb::trace;
  return (safe && request.body().empty()) || request.find("Idempotency-Key") != request.end() ||
         request.find("X-Idempotency-Key") != request.end();
}

// Errors that mean "the pooled connection was already closed by the backend".
bool IsStaleConnection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == bhttp::error::partial_message;
}

Error ToError(const beast::error_code& ec, std::string_view phase) {
  ErrorKind kind = ErrorKind::kReset;  // closed before (or in the middle of) the response
  if (phase == "connect" || phase == "resolve") kind = ErrorKind::kConnect;
  return Error::Of(kind, std::string(phase) + ": " + ec.message());
}

// A redirect target this client follows: an absolute path on the current host, or an http:// or
// https:// URL.
struct RedirectTarget {
  bool same_host = true;
  bool https = false;
  std::string host;  // lower case, IPv6 without brackets
  uint16_t port = 80;
  std::string target;
};

// Host names and IP literals only: no user info, no percent-encoding, no empty name.
bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':') {
      return false;
    }
  }
  return true;
}

// Visible ASCII only: the target is written into a request line as it is.
bool ValidTarget(std::string_view target) {
  for (char c : target) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::optional<RedirectTarget> ParseLocation(std::string_view loc, bool from_https) {
  if (!ValidTarget(loc)) return std::nullopt;
  RedirectTarget out;
  std::string_view authority;
  if (StartsWith(loc, "//")) {  // network-path reference: same scheme, another authority
    authority = loc.substr(2);
    out.https = from_https;
  } else if (StartsWith(loc, "/")) {
    out.target = std::string(loc);
    return out;
  } else if (loc.size() > 7 && EqualsIgnoreCase(loc.substr(0, 7), "http://")) {
    authority = loc.substr(7);
  } else if (loc.size() > 8 && EqualsIgnoreCase(loc.substr(0, 8), "https://")) {
    authority = loc.substr(8);
    out.https = true;
  } else {
    return std::nullopt;  // other schemes, relative paths: the 3xx is the answer
  }
  const size_t end = authority.find_first_of("/?#");
  std::string_view path = end == std::string_view::npos ? "" : authority.substr(end);
  authority = authority.substr(0, end);
  std::string_view host = authority;
  std::string_view port;
  if (StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (!ValidHost(host)) return std::nullopt;
  uint32_t number = out.https ? 443 : 80;
  if (!port.empty() && (!ParseUint(port, &number) || number == 0 || number > 65535)) {
    return std::nullopt;
  }
  out.same_host = false;
  out.host = absl::AsciiStrToLower(std::string(host));
  out.port = static_cast<uint16_t>(number);
  if (path.empty() || path[0] == '#') {
    out.target = "/";
  } else {
    out.target = path[0] == '?' ? "/" + std::string(path) : std::string(path);
    out.target = out.target.substr(0, out.target.find('#'));
  }
  return out;
}

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Go's rule for credentials on redirect (net/http shouldCopyHeaderOnRedirect), made stricter on
// the port: they go on to the same host and port, or to a subdomain of the first host on the
// same port; never elsewhere, and once dropped they are not restored.
bool KeepsCredentials(const config::HostAddress& first, const std::string& host, uint16_t port) {
  if (port != first.port) return false;
  const std::string origin = absl::AsciiStrToLower(first.host);
  if (host == origin) return true;
  return !IsIpLiteral(origin) && !IsIpLiteral(host) && absl::EndsWith(host, "." + origin);
}

}  // namespace

std::string Gunzip(const std::string& in, uint64_t limit, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return "gzip: cannot start zlib";
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  constexpr size_t kStep = 64 * 1024;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const size_t used = out->size();
    if (used >= limit) {
      inflateEnd(&z);
      return absl::StrCat("read: the answer is larger than the ", limit,
                          "-byte limit once decompressed (gzip)");
    }
    const size_t room = std::min<uint64_t>(kStep, limit - used);
    out->resize(used + room);
    z.next_out = reinterpret_cast<Bytef*>(out->data() + used);
    z.avail_out = static_cast<uInt>(room);
    rc = inflate(&z, Z_NO_FLUSH);
    out->resize(used + room - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) rc = Z_DATA_ERROR;  // truncated
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return absl::StrCat("read: the gzip answer is corrupt or truncated (",
                          z.msg != nullptr ? z.msg : "zlib error", ")");
    }
  }
  inflateEnd(&z);
  return "";
}

namespace {

constexpr std::array<bhttp::field, 4> kCredentialFields = {
    bhttp::field::authorization, bhttp::field::www_authenticate, bhttp::field::cookie,
    bhttp::field::proxy_authorization};

}  // namespace

struct Client::HostPool {
  config::HostAddress address;
  std::string host_header;
  std::string port_text;
  std::optional<tcp::endpoint> endpoint;  // set when `host` is an IP literal: no resolver needed
  std::vector<std::unique_ptr<Connection>> idle;
  // https: the last resumable TLS session, so new connections skip the full handshake.
  std::unique_ptr<SSL_SESSION, void (*)(SSL_SESSION*)> session{nullptr, &SSL_SESSION_free};
  bool https() const { return address.scheme == "https"; }
};

// One backend exchange, including retries on stale connections and redirects. Its pending
// operation (there is always one until it completes) holds it alive; when the deadline passes,
// the operation is made to fail, and every handler checks `timed_out_` first.
class Client::Call : public std::enable_shared_from_this<Client::Call> {
 public:
  Call(Client& client, int slot, Request&& request, Deadline deadline, Callback done)
      : client_(client),
        pool_(client.hosts_[slot].get()),
        first_(pool_),
        request_(std::move(request)),
        deadline_at_(deadline),
        deadline_(client.deadlines_, [this] { shared_from_this()->OnDeadline(); }),
        done_(std::move(done)) {}

  void Start() {
    request_.set(bhttp::field::host, pool_->host_header);
    request_.prepare_payload();
    // Go's transport (KrakenD's) sends "Content-Length: 0" on a body-less POST, PUT or PATCH;
    // Beast leaves it out for PATCH.
    const bhttp::verb m = request_.method();
    if (request_.body().empty() &&
        (m == bhttp::verb::post || m == bhttp::verb::put || m == bhttp::verb::patch)) {
      request_.content_length(0);
    }
    // As Go's transport: ask for gzip unless the request names its own encodings (a no-op
    // endpoint forwarding the client's), and then decompress what comes back.
    if (request_.find(bhttp::field::accept_encoding) == request_.end()) {
      request_.set(bhttp::field::accept_encoding, "gzip");
      decompress_ = true;
    }
    deadline_.Arm(deadline_at_);
    TakeConnection();
  }

 private:
  // The endpoint deadline passed: close the connection (or stop resolving), so the pending
  // operation completes at once with an error, whatever it was waiting for.
  void OnDeadline() {
    if (finished_) return;
    timed_out_ = true;
    beast::error_code ignored;
    if (conn_) conn_->socket().close(ignored);
    if (resolver_) resolver_->cancel();
  }

  void TakeConnection() {
    const auto now = std::chrono::steady_clock::now();
    while (pooled_ && !pool_->idle.empty()) {
      std::unique_ptr<Connection> c = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      if (now - c->idle_since < client_.options_.idle_connection_timeout && Usable(*c)) {
        conn_ = std::move(c);
        reused_ = true;
        return DoWrite();
      }
    }
    reused_ = false;
    asio::ssl::context* tls = nullptr;
    if (pool_->https()) {
      tls = client_.options_.tls.get();
      if (tls == nullptr) {
        return Finish(Error::Of(ErrorKind::kConnect, "tls: no client TLS context for https"));
      }
    }
    conn_ = std::make_unique<Connection>(client_.ioc_, tls);
    if (pool_->endpoint) {
      conn_->socket().async_connect(
          *pool_->endpoint, beast::bind_front_handler(&Call::OnConnect, shared_from_this()));
      return;
    }
    // Only host names need a resolver: constructing one looks up an Asio service under a lock,
    // so IP-literal hosts (the common case) never create it.
    resolver_.emplace(client_.ioc_);
    resolver_->async_resolve(pool_->address.host, pool_->port_text,
                             beast::bind_front_handler(&Call::OnResolve, shared_from_this()));
  }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (timed_out_) return FinishTimeout("resolve");
    if (ec) return Finish(ToError(ec, "resolve"));
    asio::async_connect(conn_->socket(), results,
                        [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
                          self->OnConnect(e);
                        });
  }

  void OnConnect(beast::error_code ec) {
    if (timed_out_) return FinishTimeout("connect");
    if (ec) return Finish(ToError(ec, "connect"));
    beast::error_code ignored;
    conn_->socket().set_option(tcp::no_delay(true), ignored);
    if (conn_->stream.tls() != nullptr) return Handshake();
    DoWrite();
  }

  void Handshake() {
    SSL* ssl = conn_->stream.tls()->native_handle();
    if (absl::Status st = http::PrepareClientConnection(ssl, pool_->address.host); !st.ok()) {
      return Finish(Error::Of(ErrorKind::kConnect, std::string(st.message())));
    }
    if (pool_->session) SSL_set_session(ssl, pool_->session.get());
    conn_->stream.tls()->async_handshake(
        asio::ssl::stream_base::client,
        beast::bind_front_handler(&Call::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (timed_out_) return FinishTimeout("tls handshake");
    if (ec) {
      return Finish(Error::Of(ErrorKind::kConnect,
                              http::HandshakeError(conn_->stream.tls()->native_handle(), ec)));
    }
    DoWrite();
  }

  // Keeps the connection's newest TLS session for the next new connection to this host. TLS
  // 1.3 sends its tickets after the handshake, so this runs once an answer was read.
  void SaveSession() {
    if (conn_->session.session == nullptr) return;
    SSL_SESSION* session = conn_->session.Take();
    // A copy: OpenSSL marks the connection's own session unresumable when the connection is
    // freed without a close_notify, as pooled and closed connections are.
    if (SSL_SESSION_is_resumable(session) == 1) pool_->session.reset(SSL_SESSION_dup(session));
    SSL_SESSION_free(session);
  }

  void DoWrite() {
    head_.clear();
    http::AppendRequestHead(request_, &head_);
    http::HeadAndBody buffers = {asio::buffer(head_), asio::buffer(request_.body())};
    // Plain TCP takes a request whole at once (no completion through the event loop then).
    if (conn_->stream.tls() == nullptr) {
      const std::size_t size = http::Size(buffers);
      if (http::WriteNow(conn_->stream.plain(), buffers) == size) return OnWrite({}, size);
    }
    asio::async_write(conn_->stream, buffers,
                      beast::bind_front_handler(&Call::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (timed_out_) return FinishTimeout("write");
    if (ec) return RetryOrFail(ec, "write");
    informational_ = 0;
    oddity_ = false;
    DropAnswer();  // which reader takes the answer is decided when its first bytes are here
    Parse();
  }

  void NewParser() {
    parser_.emplace();
    // Not eager: put() stops after the head, so its size and status are checked (Parse) before
    // any body byte is stored. In eager mode Beast 1.74 also loses its own body_limit error when
    // body bytes arrive with the head.
    parser_->eager(false);
    parser_->body_limit(client_.options_.max_response_bytes);
    // An answer to HEAD has no body, whatever its Content-Length says.
    if (request_.method() == bhttp::verb::head) parser_->skip(true);
    head_checked_ = false;
  }

  // Feeds the bytes read so far to the parser; reads more while the answer is unfinished.
  void Parse() {
    beast::flat_buffer& buffer = conn_->buffer;
    if (!parser_) {
      if (buffer.size() == 0) return DoRead();
      if (simple_ || StartSimple()) return ReadSimpleBody();
      NewParser();
    }
    while (buffer.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more || (!ec && used == 0)) break;
      if (ec == bhttp::error::body_limit) return FailTooLarge();
      if (ec) return FailBadResponse(absl::StrCat("read: ", ec.message()));
      if (!head_checked_ && parser_->is_header_done()) {
        head_checked_ = true;
        const unsigned status = parser_->get().result_int();
        if (status / 100 == 1) {
          // An informational answer (103 Early Hints, 100 Continue) precedes the real one on
          // the same connection: skip it (RFC 9110 section 15.2).
          if (status == 101) return FailBadResponse("101 Switching Protocols, never asked for");
          if (++informational_ > kMaxInformational) {
            return FailBadResponse(
                absl::StrCat("more than ", kMaxInformational, " informational (1xx) answers"));
          }
          oddity_ = true;
          NewParser();
          continue;
        }
        if (status == 204 && (parser_->content_length().value_or(0) > 0 || parser_->chunked())) {
          oddity_ = true;  // a 204 declaring a body: its bytes must never be read as an answer
        }
        // Done at the head: an answer without a body (HEAD, 204, 304), whose Content-Length
        // describes another message.
        if (!parser_->is_done() &&
            parser_->content_length().value_or(0) > client_.options_.max_response_bytes) {
          return FailTooLarge();
        }
      }
      if (parser_->is_done()) return OnResponse();
      if (parser_->get().body().size() > client_.options_.max_response_bytes) {
        return FailTooLarge();
      }
    }
    if (buffer.size() > kMaxPendingBytes) {
      return FailBadResponse("read: an unterminated line in the answer's head or chunking");
    }
    DoRead();
  }

  // The answer's head in its common form, whole in the buffer (http::ParseSimpleHead): read
  // without Beast's parser, and its body by Content-Length. False: the parser takes the answer.
  bool StartSimple() {
    // An answer to HEAD has no body, whatever its Content-Length. (After a 1xx answer Beast's
    // parser is already under way: Parse does not come here.)
    if (request_.method() == bhttp::verb::head) return false;
    SimpleAnswer& simple = simple_.emplace();
    if (!http::ParseSimpleHead(http::BytesOf(conn_->buffer.data()), &simple.response,
                               &simple.head)) {
      simple_.reset();
      return false;
    }
    conn_->buffer.consume(simple.head.size);
    return true;
  }

  void ReadSimpleBody() {
    const uint64_t length = simple_->head.content_length;
    if (length > client_.options_.max_response_bytes) return FailTooLarge();
    std::string& body = simple_->response.body();
    // The declared length at once, as Beast's parser reserves it.
    if (body.empty()) body.reserve(static_cast<std::size_t>(length));
    beast::flat_buffer& buffer = conn_->buffer;
    const std::string_view bytes = http::BytesOf(buffer.data());
    const std::size_t take =
        static_cast<std::size_t>(std::min<uint64_t>(bytes.size(), length - body.size()));
    body.append(bytes.data(), take);
    buffer.consume(take);
    if (body.size() == length) return OnResponse();
    DoRead();
  }

  void DropAnswer() {
    parser_.reset();
    simple_.reset();
  }

  void DoRead() {
    const std::size_t size = beast::read_size(conn_->buffer, kMaxReadBytes);
    conn_->stream.async_read_some(conn_->buffer.prepare(size),
                                  beast::bind_front_handler(&Call::OnRead, shared_from_this()));
    // A read that waits for epoll and comes back short leaves the socket known empty (OnRead,
    // http/readiness.h): the next read on it waits without a recv() first. Nothing else is
    // started on the connection until OnRead.
    read_.Started(conn_->socket(), conn_->stream.tls() == nullptr ? size : 0);
  }

  void OnRead(beast::error_code ec, std::size_t n) {
    if (timed_out_) return FinishTimeout("read");
    const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    if (closed && simple_) {
      return Finish(ToError(bhttp::error::partial_message, "read"));  // as Beast's put_eof says
    }
    if (closed && parser_ && parser_->got_some()) {
      ec = asio::error::eof;
      // The backend closed: the end of an answer delimited by the close, or a truncated one.
      parser_->put_eof(ec);
      if (ec) return Finish(ToError(ec, "read"));
      oddity_ = true;  // closed: never pooled
      return OnResponse();
    }
    if (ec) return RetryOrFail(ec, "read");
    read_.Finished(conn_->socket(), n);
    conn_->buffer.commit(n);
    Parse();
  }

  void RetryOrFail(beast::error_code ec, std::string_view phase) {
    if (reused_ && IsStaleConnection(ec) && !simple_ && !(parser_ && parser_->got_some()) &&
        Replayable(request_)) {
      // The backend closed this keep-alive connection just as it was reused (the peek in
      // TakeConnection saw it open); nothing of the response arrived: retry once on a new
      // connection, when sending the request twice is harmless.
      DropAnswer();
      conn_.reset();
      pooled_ = false;
      return TakeConnection();
    }
    Finish(ToError(ec, phase));
  }

  void OnResponse() {
    // Pooled only when the answer ended exactly where the next one would start.
    const bool keep_alive = simple_ ? simple_->head.keep_alive : parser_->keep_alive();
    const bool reusable =
        !oddity_ && conn_->buffer.size() == 0 && keep_alive && request_.keep_alive();
    Response response = simple_ ? std::move(simple_->response) : parser_->release();
    DropAnswer();
    if (conn_->stream.tls() != nullptr && own_pool_) SaveSession();
    ReleaseConnection(reusable);
    if (IsRedirect(response.result_int())) {
      auto location = response.find(bhttp::field::location);
      std::optional<RedirectTarget> next;
      if (location != response.end()) {
        next = ParseLocation(Sv(location->value()), pool_->https());
      }
      if (next) {
        if (redirects_ >= client_.options_.max_redirects) {
          return FailBadResponse(
              absl::StrCat("stopped after ", client_.options_.max_redirects, " redirects"));
        }
        return FollowRedirect(response.result_int(), std::move(*next));
      }
    }
    if (decompress_ && request_.method() != bhttp::verb::head) {
      auto coding = response.find(bhttp::field::content_encoding);
      if (coding != response.end() && EqualsIgnoreCase(TrimOws(Sv(coding->value())), "gzip")) {
        std::string plain;
        if (std::string error =
                Gunzip(response.body(), client_.options_.max_response_bytes, &plain);
            !error.empty()) {
          return FailBadResponse(std::move(error));
        }
        response.body() = std::move(plain);
        response.erase(bhttp::field::content_encoding);
        response.erase(bhttp::field::content_length);
      }
    }
    CallResult result;
    if (const unsigned status = response.result_int(); status != 200 && status != 201) {
      result.url = Url();
    }
    result.response = std::move(response);
    Complete(std::move(result));
  }

  // The URL of the current request, as Go's URL.String() writes it.
  std::string Url() const {
    std::string url = pool_->https() ? "https://" : "http://";
    url += pool_->host_header;
    url += Sv(request_.target());
    return url;
  }

  // Whether an idle connection from the pool can carry this request. A plain-TCP one whose
  // answer left it empty and on which the event loop has seen nothing since (http/readiness.h)
  // is taken as it is when the request may be sent twice: one the backend closed so recently
  // that the loop has not seen it yet then fails at once and the request goes again on a new
  // connection (RetryOrFail), as in nginx's and Go's pools. Any other is peeked at.
  bool Usable(Connection& c) {
    if (c.stream.tls() != nullptr) return IsAlive(c.socket());
    if (!http::MayHaveBytes(c.socket()) && Replayable(request_)) return true;
    if (!IsAlive(c.socket())) return false;
    http::MarkDrained(c.socket());  // the peek found it empty, just now
    return true;
  }

  void ReleaseConnection(bool reusable) {
    if (reusable && own_pool_ && pool_->idle.size() < client_.options_.max_idle_per_host) {
      conn_->idle_since = std::chrono::steady_clock::now();
      pool_->idle.push_back(std::move(conn_));
    }
    conn_.reset();
  }

  // Follows a redirect to the first host (pooled) or to another plain-HTTP host (a one-off
  // connection). Credentials stay behind when the host or port changes (KeepsCredentials).
  void FollowRedirect(unsigned status, RedirectTarget next) {
    ++redirects_;
    // Go's client names the page it comes from, unless that would leak an https URL to http.
    const bool from_https = pool_->https();
    if (from_https && !next.https && !next.same_host) {
      request_.erase(bhttp::field::referer);
    } else {
      request_.set(bhttp::field::referer, Url());
    }
    if (!next.same_host) {
      const config::HostAddress& first = first_->address;
      if (!KeepsCredentials(first, next.host, next.port) || next.https != first_->https()) {
        for (bhttp::field f : kCredentialFields) request_.erase(f);
        request_.erase("Cookie2");
      }
      if (next.host == absl::AsciiStrToLower(first.host) && next.port == first.port &&
          next.https == first_->https()) {
        pool_ = first_;
        own_pool_ = true;
        pooled_ = true;
      } else {
        auto other = std::make_unique<HostPool>();
        other->address.scheme = next.https ? "https" : "http";
        other->address.host = next.host;
        other->address.port = next.port;
        other->host_header = HostHeader(other->address.scheme, next.host, next.port);
        other->port_text = absl::StrCat(next.port);
        beast::error_code ec;
        auto ip = asio::ip::make_address(next.host, ec);
        if (!ec) other->endpoint = tcp::endpoint(ip, next.port);
        redirect_pool_ = std::move(other);
        pool_ = redirect_pool_.get();
        own_pool_ = false;
        pooled_ = false;
      }
    }
    if (status == 303 ||
        ((status == 301 || status == 302) && request_.method() == bhttp::verb::post)) {
      request_.method(bhttp::verb::get);
      request_.body().clear();
      request_.erase(bhttp::field::content_type);
    }
    request_.target(next.target);
    request_.set(bhttp::field::host, pool_->host_header);
    request_.prepare_payload();
    TakeConnection();
  }

  void FailTooLarge() {
    FailBadResponse(absl::StrCat("read: the answer is larger than the ",
                                 client_.options_.max_response_bytes, "-byte limit"));
  }
  void FailBadResponse(std::string message) {
    Finish(Error::Of(ErrorKind::kBadResponse, std::move(message)));
  }
  void FinishTimeout(std::string_view phase) {
    Finish(Error::Of(ErrorKind::kTimeout, std::string(phase) + ": the deadline passed"));
  }

  void Finish(Error error) {
    conn_.reset();  // never pooled: its state is unknown
    CallResult result;
    result.error = std::move(error);
    Complete(std::move(result));
  }

  void Complete(CallResult&& result) {
    finished_ = true;
    deadline_.Disarm();
    done_(std::move(result));
  }

  Client& client_;
  HostPool* pool_;
  HostPool* const first_;  // the registered host the call started on
  std::unique_ptr<HostPool> redirect_pool_;
  Request request_;
  std::string head_;  // serialised head of request_
  const Deadline deadline_at_;
  http::Deadlines::Entry deadline_;
  Callback done_;
  std::optional<tcp::resolver> resolver_;
  std::unique_ptr<Connection> conn_;
  // The answer being read: by Beast's parser, or (simple_) in its common form without it.
  struct SimpleAnswer {
    Response response;
    http::SimpleHead head;
  };
  std::optional<http::ResponseParser> parser_;
  std::optional<SimpleAnswer> simple_;
  bool reused_ = false;
  bool pooled_ = true;    // may take idle connections
  bool own_pool_ = true;  // connections may be returned to the pool
  bool head_checked_ = false;
  bool oddity_ = false;  // the answer was framed oddly: its connection is closed, not pooled
  bool timed_out_ = false;
  bool finished_ = false;
  bool decompress_ = false;  // we asked for gzip: a gzip answer is decompressed
  int informational_ = 0;    // 1xx answers skipped for this request
  int redirects_ = 0;
  http::WaitedRead read_;  // DoRead's
};

Client::Client(asio::io_context& ioc, ClientOptions options)
    : ioc_(ioc), deadlines_(http::Deadlines::Of(ioc)), options_(options) {}

Client::~Client() = default;

absl::StatusOr<int> Client::RegisterHost(const config::HostAddress& host) {
  std::string key = absl::StrCat(host.scheme, "://", host.host, ":", host.port);
  if (auto known = host_slots_.find(key); known != host_slots_.end()) return known->second;
  const int slot = static_cast<int>(host_slots_.size());
  if (!hosts_.Make(slot)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", kMaxHosts,
                     " distinct backend hosts since the gateway started (reloads included); "
                     "restart it to register more"));
  }
  auto pool = std::make_unique<HostPool>();
  pool->address = host;
  pool->host_header = HostHeader(host.scheme, host.host, host.port);
  pool->port_text = absl::StrCat(host.port);
  beast::error_code ec;
  auto ip = asio::ip::make_address(host.host, ec);
  if (!ec) pool->endpoint = tcp::endpoint(ip, host.port);
  hosts_[slot] = std::move(pool);
  host_slots_.emplace(std::move(key), slot);
  return slot;
}

void Client::Send(int slot, Request&& request, Deadline deadline, Callback done) {
  std::make_shared<Call>(*this, slot, std::move(request), deadline, std::move(done))->Start();
}

size_t Client::idle_connections() const {
  size_t n = 0;
  for (const auto& [key, slot] : host_slots_) n += hosts_[slot]->idle.size();
  return n;
}

}  // namespace sluice::backend::rest
