#include "gateway/backend/grpc/h2_client.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/basic_stream_socket.hpp"
#include "boost/asio/basic_waitable_timer.hpp"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/basic_resolver.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/write.hpp"
#include "gateway/common/strings.h"
#include "gateway/http/executor.h"
#include "gateway/http/tls.h"

namespace sluice::backend::grpc {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

using http::Executor;
using http::Socket;
using http::Timer;
using TlsSocket = asio::ssl::stream<Socket>;
using Stream = http::MaybeTls<Socket, TlsSocket>;
using Resolver = asio::ip::basic_resolver<tcp, Executor>;

// gRPC status codes this client produces itself.
constexpr int kCancelled = 1;
constexpr int kUnknown = 2;
constexpr int kDeadlineExceeded = 4;
constexpr int kPermissionDenied = 7;
constexpr int kResourceExhausted = 8;
constexpr int kInternal = 13;
constexpr int kUnavailable = 14;

// Reconnect backoff after a failed connect: 250 ms, doubling up to 1 s (a restarted backend is
// retried within a second, as the gRPC C++ channels were configured).
constexpr std::chrono::milliseconds kInitialBackoff{250};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
// gRPC's minimum connect timeout: a connect that hangs (a dropped SYN), or a peer that never
// sends its HTTP/2 SETTINGS, gives up after it.
constexpr std::chrono::seconds kConnectTimeout{20};
// Receive windows: a whole reply (up to kMaxReplyBytes) streams without waiting for a
// WINDOW_UPDATE round trip, and several such replies share the connection.
constexpr int32_t kStreamWindow = 4 * 1024 * 1024 + 5;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// Times one call is sent again after backends refused it unprocessed (a rolling restart can
// refuse it on more than one connection); gRPC C++ retries such calls transparently.
constexpr int kMaxResends = 5;
// Bytes read per read, and gathered per write.
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kWriteChunk = 64 * 1024;
// The longest grpc-message kept (the rest is cut): it only reaches logs and configured answers.
constexpr size_t kMaxStatusMessage = 8 * 1024;

std::string_view View(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

nghttp2_nv Header(std::string_view name, std::string_view value,
                  uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), flags};
}

// Headers whose value changes with every call (grpc-timeout, the request's id) are sent
// without indexing: in HPACK's dynamic table each would push out an entry the next call could
// have named by its index, and cost an insertion for nothing.
bool ChangesPerCall(std::string_view name) { return name == "x-request-id"; }

// grpc-timeout: at most 8 digits and a unit; milliseconds rounded up, seconds past 8 digits.
std::string Timeout(Clock::duration left) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(left + std::chrono::microseconds(999))
          .count();
  if (ms < 100'000'000) return absl::StrCat(std::max<int64_t>(ms, 1), "m");
  return absl::StrCat(std::min<int64_t>(ms / 1000 + 1, 99'999'999), "S");
}

// The gRPC status of an answer that carries none (gRPC's http-grpc-status-mapping).
int StatusOfHttp(int status) {
  switch (status) {
    case 400:
      return kInternal;
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return kPermissionDenied;
    case 404:
      return 12;  // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return kUnavailable;
    default:
      return kUnknown;
  }
}

}  // namespace

struct H2Client::Host {
  std::string name;  // as configured; IPv6 without brackets
  uint16_t port = 0;
  std::string authority;                    // :authority, "host:port"
  std::shared_ptr<asio::ssl::context> tls;  // null: plaintext
  std::shared_ptr<Connection> live;         // new calls go here
  // Connections that take no new calls (GOAWAY, stream ids spent) until their streams end.
  std::vector<std::shared_ptr<Connection>> retired;
  Clock::time_point retry_at{};  // after a failed connect: calls fail at once until then
  std::chrono::milliseconds backoff = kInitialBackoff;
  std::string last_error;
};

struct H2Client::CallState {
  explicit CallState(asio::io_context& ioc) : timer(ioc.get_executor()) {}

  Host* host = nullptr;
  std::string_view path;
  Metadata metadata;
  std::string body;  // the framed request
  size_t sent = 0;   // bytes of `body` handed to nghttp2
  Clock::time_point deadline;
  Timer timer;
  ReplyCallback done;
  bool answered = false;  // `done` ran
  int resent = 0;         // times sent again after the backend refused it unprocessed

  Connection* connection = nullptr;  // waiting for it to connect, or on a stream of it
  int32_t stream_id = -1;
  // The answer as it arrives.
  int http_status = 0;
  int grpc_status = -1;
  std::string grpc_message;
  std::string reply;  // DATA bytes
  bool too_big = false;
  UnaryReply result;  // set when the stream closes

  // How the call ended, from what arrived and how the stream closed.
  UnaryReply Outcome(uint32_t error_code) {
    if (too_big) {
      return {kResourceExhausted,
              absl::StrCat("the reply is larger than ", kMaxReplyBytes, " bytes")};
    }
    if (grpc_status > 0) return {grpc_status, std::move(grpc_message)};
    if (grpc_status == 0) {
      if (reply.size() < 5) return {kInternal, "the backend sent no reply message"};
      if (reply[0] != 0) return {kInternal, "the reply is compressed, which was not offered"};
      const size_t length = (size_t{static_cast<uint8_t>(reply[1])} << 24) |
                            (size_t{static_cast<uint8_t>(reply[2])} << 16) |
                            (size_t{static_cast<uint8_t>(reply[3])} << 8) |
                            size_t{static_cast<uint8_t>(reply[4])};
      if (length + 5 != reply.size()) return {kInternal, "the reply is not one gRPC message"};
      reply.erase(0, 5);
      return {0, {}, std::move(reply)};
    }
    if (http_status != 0 && http_status != 200) {
      return {StatusOfHttp(http_status), absl::StrCat("the backend answered HTTP ", http_status)};
    }
    // A reset stream's code as gRPC maps it.
    switch (error_code) {
      case NGHTTP2_NO_ERROR:
        return {kUnknown, "the answer ended without a grpc-status"};
      case NGHTTP2_REFUSED_STREAM:
        return {kUnavailable, "the backend refused the call"};
      case NGHTTP2_CANCEL:
        return {kCancelled, "the backend cancelled the call"};
      case NGHTTP2_ENHANCE_YOUR_CALM:
        return {kResourceExhausted, "the backend reset the call: ENHANCE_YOUR_CALM"};
      case NGHTTP2_INADEQUATE_SECURITY:
        return {kPermissionDenied, "the backend reset the call: INADEQUATE_SECURITY"};
      default:
        return {kInternal,
                absl::StrCat("the backend reset the call: ", nghttp2_http2_strerror(error_code))};
    }
  }
};

// One HTTP/2 connection to a host. Owned by its host and by its pending operations; once dead
// (failed, closed, or the client closing) its handlers return without touching the client.
class H2Client::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(H2Client* client, Host* host)
      : client_(client),
        host_(host),
        stream_(host->tls == nullptr
                    ? Stream(std::in_place, client->ioc_.get_executor())
                    : Stream(std::make_unique<TlsSocket>(client->ioc_.get_executor(), *host->tls),
                             host->tls)),
        timer_(client->ioc_.get_executor()) {}
  ~Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  void Start();
  // Queues `call`; it is sent on the next turn of the loop (with the others queued by then), so
  // H2Client::Call never writes or answers anything itself. Calls over the backend's
  // SETTINGS_MAX_CONCURRENT_STREAMS stay queued, in order, until streams close.
  void Add(CallState* call);
  // The deadline of a call on this connection passed.
  void Expire(CallState* call);
  // Closes the socket; the client is not touched again. For the client's Close and destructor.
  void Shutdown() {
    dead_ = true;
    boost::system::error_code ignored;
    socket().close(ignored);
    timer_.cancel();
    if (resolver_ != nullptr) resolver_->cancel();
  }

 private:
  Socket& socket() {
    return stream_.tls() != nullptr ? stream_.tls()->next_layer() : stream_.plain();
  }
  void Connect(const boost::system::error_code& ec);
  // After the TCP connect: the TLS handshake (ALPN h2), then the session.
  void Handshake();
  void Established();
  void Read();
  // Pump on the next turn of the loop (once, however many calls ask).
  void Kick();
  // Starts the queued calls' streams, writes what nghttp2 has to send, answers what ended, and
  // leaves the host once it can take no more streams and has none.
  void Pump();
  void Submit(CallState* call);
  // Writes what nghttp2 has queued (one write in flight at a time).
  void Flush();
  // Ends the connection: every call on it or waiting for it fails UNAVAILABLE.
  void Fail(std::string why);
  // Answers the calls whose streams closed during nghttp2's work, and sends again those the
  // backend refused: outside nghttp2's callbacks, which must not re-enter it.
  void Deliver();
  // Out of its host: a connection with no stream left that cannot take new ones.
  void Leave();
  void Retire();

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user_data);
  static int OnDataChunk(nghttp2_session* session, uint8_t flags, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user_data);
  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                           void* user_data);
  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user_data);

  H2Client* client_;
  Host* host_;
  Stream stream_;
  Timer timer_;  // kConnectTimeout: the connect, the TLS handshake and the backend's SETTINGS
  std::unique_ptr<Resolver> resolver_;
  nghttp2_session* session_ = nullptr;
  bool ready_ = false;        // connected, the session made
  bool established_ = false;  // the backend's SETTINGS arrived: it speaks HTTP/2
  bool dead_ = false;         // failed or shut down
  bool goaway_ = false;       // takes no new streams
  bool writing_ = false;
  bool kicked_ = false;
  int streams_ = 0;                  // streams open
  std::vector<CallState*> waiting_;  // queued, no stream yet (connecting, or streams all used)
  std::vector<CallState*> starting_;
  std::vector<CallState*> ended_;
  std::vector<CallState*> refused_;
  std::vector<nghttp2_nv> headers_;  // Submit's request headers (nghttp2 copies them)
  std::string out_;
  std::array<uint8_t, kReadChunk> in_;
};

void H2Client::Connection::Start() {
  timer_.expires_after(kConnectTimeout);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->established_ || self->dead_) return;
    // Fail closes the socket: a connect still trying the name's other addresses stops too.
    self->Fail(self->ready_ ? "the backend sent no HTTP/2 SETTINGS: not a gRPC server?"
                            : "connect: timed out");
  });
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host_->name, ec);
  if (!ec) {
    socket().async_connect(
        tcp::endpoint(address, host_->port),
        [self = shared_from_this()](const boost::system::error_code& ec) { self->Connect(ec); });
    return;
  }
  resolver_ = std::make_unique<Resolver>(client_->ioc_.get_executor());
  resolver_->async_resolve(
      host_->name, std::to_string(host_->port),
      [self = shared_from_this()](const boost::system::error_code& ec,
                                  const Resolver::results_type& results) {
        if (self->dead_) return;
        if (ec) {
          return self->Fail(absl::StrCat("resolving ", self->host_->name, ": ", ec.message()));
        }
        asio::async_connect(self->socket(), results,
                            [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                              self->Connect(ec);
                            });
      });
}

void H2Client::Connection::Connect(const boost::system::error_code& ec) {
  if (dead_) return;
  if (ec) return Fail(absl::StrCat("connect: ", ec.message()));
  boost::system::error_code ignored;
  socket().set_option(tcp::no_delay(true), ignored);
  if (stream_.tls() == nullptr) return Established();
  Handshake();
}

void H2Client::Connection::Handshake() {
  SSL* ssl = stream_.tls()->native_handle();
  if (absl::Status s = http::PrepareClientConnection(ssl, host_->name); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  stream_.tls()->async_handshake(
      asio::ssl::stream_base::client,
      [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->dead_) return;
        SSL* ssl = self->stream_.tls()->native_handle();
        if (ec) return self->Fail(http::HandshakeError(ssl, ec));
        const unsigned char* protocol = nullptr;
        unsigned int length = 0;
        SSL_get0_alpn_selected(ssl, &protocol, &length);
        if (std::string_view(reinterpret_cast<const char*>(protocol), length) != "h2") {
          return self->Fail("tls: the backend did not agree to HTTP/2 (ALPN h2)");
        }
        self->Established();
      });
}

void H2Client::Connection::Established() {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return Fail("out of memory");
  nghttp2_session_callbacks_set_on_header_callback(cbs, &OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &OnDataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &OnFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &OnStreamClose);
  const int rv = nghttp2_session_client_new(&session_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    session_ = nullptr;
    return Fail("out of memory");
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) !=
          0) {
    return Fail("out of memory");
  }
  ready_ = true;
  Pump();
  if (!dead_) Read();
}

void H2Client::Connection::Add(CallState* call) {
  call->connection = this;
  waiting_.push_back(call);
  if (ready_) Kick();
}

void H2Client::Connection::Kick() {
  if (kicked_) return;
  kicked_ = true;
  asio::post(client_->ioc_, [self = shared_from_this()] {
    self->kicked_ = false;
    if (!self->dead_) self->Pump();
  });
}

void H2Client::Connection::Pump() {
  starting_.swap(waiting_);
  for (CallState* call : starting_) Submit(call);
  starting_.clear();
  Flush();
  Deliver();
  if (dead_ || writing_) return;
  const bool over = !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
  if (streams_ == 0 && waiting_.empty() && (goaway_ || over)) return Leave();
  // nghttp2 ended the session itself (a protocol error: it sent GOAWAY and reads no more), with
  // calls still on it: they fail now instead of at their deadline.
  if (over) Fail("HTTP/2 protocol error: the session ended");
}

void H2Client::Connection::Submit(CallState* call) {
  const Clock::time_point now = Clock::now();
  if (call->deadline <= now) {
    // Answered by its timer, which is due.
    call->connection = nullptr;
    return;
  }
  if (static_cast<uint32_t>(streams_) >=
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)) {
    // The backend takes no more streams now. nghttp2 would queue the request with the
    // grpc-timeout of now, stale by the time the stream starts: the call waits here instead, and
    // is submitted (its timeout computed then) when a stream closes.
    waiting_.push_back(call);
    return;
  }
  const std::string timeout = Timeout(call->deadline - now);
  std::vector<nghttp2_nv>& headers = headers_;  // reused: no allocation per call
  headers.clear();
  headers.push_back(Header(":method", "POST"));
  headers.push_back(Header(":scheme", stream_.tls() != nullptr ? "https" : "http"));
  headers.push_back(Header(":path", call->path));
  headers.push_back(Header(":authority", host_->authority));
  headers.push_back(Header("content-type", "application/grpc"));
  headers.push_back(Header("te", "trailers"));
  headers.push_back(Header("grpc-timeout", timeout, NGHTTP2_NV_FLAG_NO_INDEX));
  headers.push_back(Header("user-agent", "sluice"));
  for (const auto& [key, value] : call->metadata) {
    headers.push_back(
        Header(key, value, ChangesPerCall(key) ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE));
  }
  nghttp2_data_provider body;
  body.source.ptr = call;
  body.read_callback = &ReadBody;
  const int32_t id =
      nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), &body, call);
  if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE || id == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED) {
    // This connection takes no more streams: the call goes to a new one.
    Retire();
    call->connection = nullptr;
    return client_->Dispatch(call);
  }
  if (id < 0) {
    call->connection = nullptr;
    call->result = {kInternal, absl::StrCat("starting the call: ", nghttp2_strerror(id))};
    ended_.push_back(call);
    return;
  }
  call->stream_id = id;
  ++streams_;
}

void H2Client::Connection::Flush() {
  if (writing_ || !ready_ || dead_) return;
  writing_ = true;
  out_.clear();
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      writing_ = false;
      return Fail(absl::StrCat("HTTP/2: ", nghttp2_strerror(static_cast<int>(n))));
    }
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (out_.size() >= kWriteChunk) break;
  }
  if (out_.empty()) {
    writing_ = false;
  } else {
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->writing_ = false;
                        if (self->dead_) return;
                        if (ec) return self->Fail(absl::StrCat("writing: ", ec.message()));
                        self->Pump();
                      });
  }
}

void H2Client::Connection::Read() {
  stream_.async_read_some(asio::buffer(in_), [self = shared_from_this()](
                                                 const boost::system::error_code& ec, size_t n) {
    if (self->dead_) return;
    if (ec) {
      return self->Fail(ec == asio::error::eof ? "the backend closed the connection"
                                               : absl::StrCat("reading: ", ec.message()));
    }
    const ssize_t rv = nghttp2_session_mem_recv(self->session_, self->in_.data(), n);
    if (rv < 0) {
      return self->Fail(absl::StrCat("HTTP/2: ", nghttp2_strerror(static_cast<int>(rv))));
    }
    if (self->goaway_) self->Retire();
    self->Pump();
    if (!self->dead_) self->Read();
  });
}

void H2Client::Connection::Expire(CallState* call) {
  if (call->stream_id < 0) {  // still waiting for the connection
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), call), waiting_.end());
    call->connection = nullptr;
    client_->Finish(call, {kDeadlineExceeded, "Deadline Exceeded"});
    return client_->Forget(call);
  }
  // The stream is reset; the call is forgotten when nghttp2 closes it.
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
  client_->Finish(call, {kDeadlineExceeded, "Deadline Exceeded"});
  Pump();
}

void H2Client::Connection::Deliver() {
  while (!ended_.empty() || !refused_.empty()) {
    std::vector<CallState*> ended;
    ended.swap(ended_);
    for (CallState* call : ended) {
      if (!call->answered) client_->Finish(call, std::move(call->result));
      client_->Forget(call);
    }
    std::vector<CallState*> refused;
    refused.swap(refused_);
    for (CallState* call : refused) client_->Dispatch(call);
  }
}

void H2Client::Connection::Retire() {
  goaway_ = true;
  if (host_->live.get() == this) host_->retired.push_back(std::move(host_->live));
}

void H2Client::Connection::Leave() {
  auto self = shared_from_this();
  Shutdown();
  if (host_->live == self) host_->live.reset();
  auto& retired = host_->retired;
  retired.erase(std::remove(retired.begin(), retired.end(), self), retired.end());
}

void H2Client::Connection::Fail(std::string why) {
  auto self = shared_from_this();
  why = absl::StrCat(host_->authority, ": ", why);  // every failed call's message names the host
  if (!established_) {  // a failed connect: calls fail at once until the backoff passes
    host_->retry_at = Clock::now() + host_->backoff;
    host_->backoff = std::min(host_->backoff * 2, kMaxBackoff);
    host_->last_error = why;
  }
  Leave();
  // The calls on it or waiting for it. Those the backend refused go to a new connection.
  std::vector<CallState*> lost;
  for (const auto& [call, owner] : client_->live_) {
    if (call->connection == this) lost.push_back(call);
  }
  for (CallState* call : lost) {
    call->connection = nullptr;
    client_->Finish(call, {kUnavailable, why});
    client_->Forget(call);
  }
  waiting_.clear();
  // Streams that closed before the failure are answered as they ended.
  Deliver();
}

int H2Client::Connection::OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                                   const uint8_t* name, size_t namelen, const uint8_t* value,
                                   size_t valuelen, uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* call =
      static_cast<CallState*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (call == nullptr) return 0;
  const std::string_view key = View(name, namelen);
  const std::string_view text = View(value, valuelen);
  if (key == ":status") {
    uint32_t status = 0;
    if (ParseUint(text, &status)) call->http_status = static_cast<int>(status);
  } else if (key == "grpc-status") {
    uint32_t code = 0;
    call->grpc_status = ParseUint(text, &code) && code <= 16 ? static_cast<int>(code) : kUnknown;
  } else if (key == "grpc-message") {
    call->grpc_message = PercentDecode(text.substr(0, 3 * kMaxStatusMessage));
    if (call->grpc_message.size() > kMaxStatusMessage) call->grpc_message.resize(kMaxStatusMessage);
  }
  return 0;
}

int H2Client::Connection::OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                                      const uint8_t* data, size_t len, void*) {
  auto* call = static_cast<CallState*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (call == nullptr || call->answered || call->too_big) return 0;
  if (call->reply.size() + len > kMaxReplyBytes + 5) {
    call->too_big = true;
    call->reply.clear();
    call->reply.shrink_to_fit();
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    return 0;
  }
  call->reply.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int H2Client::Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                                      void* user_data) {
  auto* self = static_cast<Connection*>(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) self->goaway_ = true;
  if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 &&
      !self->established_) {
    self->established_ = true;
    self->host_->backoff = kInitialBackoff;
    self->timer_.cancel();
  }
  return 0;
}

int H2Client::Connection::OnStreamClose(nghttp2_session* session, int32_t stream_id,
                                        uint32_t error_code, void* user_data) {
  auto* self = static_cast<Connection*>(user_data);
  auto* call = static_cast<CallState*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (call == nullptr) return 0;
  --self->streams_;
  call->connection = nullptr;
  call->stream_id = -1;
  if (!call->answered && call->resent < kMaxResends && error_code == NGHTTP2_REFUSED_STREAM &&
      call->http_status == 0) {
    // Not processed (RFC 9113 8.7): safe to send again, on a new connection.
    self->Retire();
    ++call->resent;
    call->sent = 0;
    call->grpc_status = -1;
    call->grpc_message.clear();
    call->reply.clear();
    self->refused_.push_back(call);
    return 0;
  }
  if (!call->answered) call->result = call->Outcome(error_code);
  self->ended_.push_back(call);
  return 0;
}

ssize_t H2Client::Connection::ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                       uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* call = static_cast<CallState*>(source->ptr);
  const size_t n = std::min(length, call->body.size() - call->sent);
  std::copy_n(call->body.data() + call->sent, n, buf);
  call->sent += n;
  if (call->sent == call->body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

H2Client::H2Client(asio::io_context& ioc, std::shared_ptr<const void> keep)
    : ioc_(ioc), keep_(std::move(keep)) {}

H2Client::~H2Client() {
  for (const auto& host : hosts_) {
    if (host->live != nullptr) host->live->Shutdown();
    for (const auto& connection : host->retired) connection->Shutdown();
  }
}

int H2Client::RegisterHost(const config::HostAddress& address,
                           std::shared_ptr<asio::ssl::context> tls) {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i]->name == address.host && hosts_[i]->port == address.port &&
        hosts_[i]->tls == tls) {
      return static_cast<int>(i);
    }
  }
  auto host = std::make_unique<Host>();
  host->name = address.host;
  host->port = address.port;
  host->tls = std::move(tls);
  host->authority = address.host.find(':') != std::string::npos
                        ? absl::StrCat("[", address.host, "]:", address.port)
                        : absl::StrCat(address.host, ":", address.port);
  hosts_.push_back(std::move(host));
  return static_cast<int>(hosts_.size() - 1);
}

void H2Client::FailSoon(ReplyCallback done, int code, std::string message) {
  asio::post(ioc_, [done = std::move(done), code, message = std::move(message)]() mutable {
    done(UnaryReply{code, std::move(message), {}});
  });
}

void H2Client::Call(int slot, std::string_view path, Metadata metadata, std::string framed,
                    Clock::time_point deadline, ReplyCallback done) {
  Host* host = hosts_[slot].get();
  if (closed_) return FailSoon(std::move(done), kCancelled, "the gateway is shutting down");
  if (host->live == nullptr && Clock::now() < host->retry_at) {
    return FailSoon(std::move(done), kUnavailable, host->last_error);
  }
  auto owned = std::make_shared<CallState>(ioc_);
  CallState* call = owned.get();
  call->host = host;
  call->path = path;
  call->metadata = std::move(metadata);
  for (auto& [key, value] : call->metadata) {
    if (absl::EndsWith(key, "-bin")) {  // binary metadata: base64 without padding on the wire
      value = absl::Base64Escape(value);
      while (!value.empty() && value.back() == '=') value.pop_back();
    }
  }
  call->body = std::move(framed);
  call->deadline = deadline;
  call->done = std::move(done);
  call->timer.expires_at(deadline);
  call->timer.async_wait(
      [this, weak = std::weak_ptr<CallState>(owned)](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto call = weak.lock()) Expire(call.get());
      });
  live_.emplace(call, std::move(owned));
  Dispatch(call);
}

void H2Client::Dispatch(CallState* call) {
  Host* host = call->host;
  if (host->live == nullptr) {
    if (Clock::now() < host->retry_at) {
      Finish(call, {kUnavailable, host->last_error});
      return Forget(call);
    }
    host->live = std::make_shared<Connection>(this, host);
    host->live->Start();
  }
  host->live->Add(call);
}

void H2Client::Expire(CallState* call) {
  if (call->answered) return;
  if (call->connection != nullptr) return call->connection->Expire(call);
  Finish(call, {kDeadlineExceeded, "Deadline Exceeded"});
  Forget(call);
}

void H2Client::Finish(CallState* call, UnaryReply reply) {
  if (call->answered) return;
  call->answered = true;
  call->timer.cancel();
  ReplyCallback done = std::move(call->done);
  done(std::move(reply));
}

void H2Client::Forget(CallState* call) { live_.erase(call); }

void H2Client::Close() {
  closed_ = true;
  for (const auto& host : hosts_) {
    if (host->live != nullptr) host->live->Shutdown();
    for (const auto& connection : host->retired) connection->Shutdown();
    host->live.reset();
    host->retired.clear();
  }
  std::vector<struct CallState*> calls;
  for (const auto& [call, owner] : live_) calls.push_back(call);
  for (CallState* call : calls) Finish(call, {kCancelled, "the gateway is shutting down"});
  live_.clear();
}

}  // namespace sluice::backend::grpc
