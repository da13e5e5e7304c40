#include "gateway/http/h2_connection.h"

#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "boost/asio/write.hpp"
#include "boost/beast/core/bind_handler.hpp"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

// SETTINGS_MAX_CONCURRENT_STREAMS. RFC 9113 6.5.2 recommends no less than 100; more lets one
// client hold more of a worker (each stream may cost a backend call and its buffers).
constexpr uint32_t kMaxConcurrentStreams = 100;
// Handlers one connection may have running, counting those of streams the client has already
// reset. Without this bound, HEADERS+RST_STREAM pairs (CVE-2023-44487, rapid reset) would start
// unbounded backend work while staying under the open-stream limit.
constexpr int kMaxHandlers = static_cast<int>(kMaxConcurrentStreams);
// Incoming RST_STREAM token bucket (nghttp2's defaults, named here): a client resetting faster
// gets GOAWAY. Legitimate clients cancel far less often than 1000 in a burst or 33/s sustained.
constexpr uint64_t kResetBurst = 1000;
constexpr uint64_t kResetRatePerSecond = 33;
// SETTINGS, PING and RST_STREAM answers nghttp2 may queue while the client does not read them;
// past this the connection is flooded and closed (SETTINGS and PING floods).
constexpr size_t kMaxOutboundAck = 1000;
// Entries accepted in one SETTINGS frame (there are 7 kinds of setting).
constexpr size_t kMaxSettingsEntries = 32;
// Bytes read per socket read: a full 16 KiB DATA frame (the default frame size) plus headers.
constexpr std::size_t kReadChunk = 16 * 1024 + 64;
// Stop asking nghttp2 for more output once this much is gathered for one socket write.
constexpr std::size_t kWriteBatch = 64 * 1024;
// Batches DoWrite sends at once before it leaves the rest to an asynchronous write, which gives
// the event loop back: a fast reader of large answers does not hold up the worker's other
// connections for more than 256 KiB.
constexpr int kDirectBatches = 4;
// Between the shutdown notice (GOAWAY with the largest stream id) and the final GOAWAY. A
// client may have requests on the wire when the notice leaves; the final GOAWAY names the last
// stream taken, so those must arrive first (RFC 9113 6.8: "at least one round-trip time").
constexpr auto kGoawayNoticeGrace = std::chrono::milliseconds(500);
// How long a closing connection waits for the client's FIN after sending its own.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// Per-field overhead when counting header bytes against max_header_bytes, as on HTTP/1.1
// ("name: value\r\n").
constexpr uint64_t kHeaderFieldOverhead = 4;
// What a stored header field costs in memory beyond its name and value: Beast's element (list
// and set links, offsets: 48 bytes), ": " and CRLF, and the allocator's own header. One-byte
// HPACK-indexed fields cost ~70 bytes each, not the 4 the wire rule counts; the connection and
// process budgets count this.
constexpr uint64_t kHeaderFieldMemory = 72;

nghttp2_nv Nv(std::string_view name, std::string_view value, uint8_t flags) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          flags};
}

// The names Beast knows, lowercased once (HTTP/2 field names are lowercase, RFC 9113 8.2.1), by
// field value (xref is Beast 1.74's last): an answer's known names go to nghttp2 without a copy.
const std::vector<std::string>& LowercaseFieldNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> lower;
    for (unsigned i = 0; i <= static_cast<unsigned>(bhttp::field::xref); ++i) {
      lower.emplace_back(Sv(bhttp::to_string(static_cast<bhttp::field>(i))));
      absl::AsciiStrToLower(&lower.back());
    }
    return lower;
  }();
  return names;
}

std::string_view View(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

// RFC 7540 3.2: an HTTP/1.1 request with `Upgrade: h2c`, a Connection field naming both Upgrade
// and HTTP2-Settings (the hop-by-hop options: a proxy that honours Connection strips them, so a
// client cannot tunnel HTTP/2 through a proxy that does not speak it), no `close`, and exactly
// one HTTP2-Settings field holding a base64url SETTINGS payload with valid entries. Anything else
// is served as plain HTTP/1.1.
bool IsH2cUpgrade(const Request& request) {
  if (request.version() != 11) return false;
  auto upgrade = request.find(bhttp::field::upgrade);
  if (upgrade == request.end() || !ListsToken(Sv(upgrade->value()), "h2c")) return false;
  bool names_upgrade = false;
  bool names_settings = false;
  for (auto it = request.find(bhttp::field::connection);
       it != request.end() && it->name() == bhttp::field::connection; ++it) {
    const std::string_view options = Sv(it->value());
    if (ListsToken(options, "close")) return false;
    names_upgrade = names_upgrade || ListsToken(options, "Upgrade");
    names_settings = names_settings || ListsToken(options, "HTTP2-Settings");
  }
  if (!names_upgrade || !names_settings) return false;
  if (request.count("HTTP2-Settings") != 1) return false;
  std::string settings;
  return DecodeH2Settings(Sv(request["HTTP2-Settings"]), &settings);
}

bool DecodeH2Settings(std::string_view token, std::string* payload) {
  // token68 without padding (RFC 7540 3.2.1: "trailing '=' characters omitted"), at least one
  // character: an empty field is not a SETTINGS payload.
  if (token.empty()) return false;
  for (char ch : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') {
      return false;
    }
  }
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), payload) ||
      payload->size() % 6 != 0) {
    return false;
  }
  // The values RFC 9113 6.5.2 allows; nghttp2 would refuse the others after the 101 is sent.
  for (size_t i = 0; i < payload->size(); i += 6) {
    const auto* p = reinterpret_cast<const uint8_t*>(payload->data() + i);
    const uint32_t id = (uint32_t{p[0]} << 8) | p[1];
    const uint32_t value =
        (uint32_t{p[2]} << 24) | (uint32_t{p[3]} << 16) | (uint32_t{p[4]} << 8) | p[5];
    if (id == NGHTTP2_SETTINGS_ENABLE_PUSH && value > 1) return false;
    if (id == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE &&
        value > static_cast<uint32_t>(NGHTTP2_MAX_WINDOW_SIZE)) {
      return false;
    }
    // 2^14 to 2^24-1 octets.
    if (id == NGHTTP2_SETTINGS_MAX_FRAME_SIZE && (value < (1u << 14) || value >= (1u << 24))) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// H2Stream: one request/response exchange on an HTTP/2 connection.

class H2Stream final : public Exchange {
 public:
  H2Stream(std::shared_ptr<H2Connection> connection, int32_t id)
      : connection_(std::move(connection)), id_(id) {}

  // Exchange
  const Request& request() const override { return request_; }
  Request& mutable_request() override { return request_; }
  std::string_view client_ip() const override { return connection_->client_ip_; }
  int worker_index() const override { return connection_->listener_->worker; }
  asio::io_context& io_context() override { return connection_->listener_->io_context(); }
  void Respond(Response&& response) override { connection_->Respond(*this, std::move(response)); }

 private:
  friend class H2Connection;
  friend struct H2Connection::Callbacks;

  enum class Problem { kNone, kHeadersTooLarge, kBodyTooLarge, kOverBudget, kTimedOut };

 public:
  ~H2Stream() override {
    connection_->EndDeadline(*this);
    connection_->Uncharge(*this);
  }

 private:
  // Called when the request head is complete: Host from :authority, cookies joined.
  void FinishHead() {
    if (!authority_.empty() && request_.find(bhttp::field::host) == request_.end()) {
      request_.set(bhttp::field::host, authority_);
    }
    if (!cookies_.empty()) request_.set(bhttp::field::cookie, cookies_);
    request_.version(20);
  }

  std::shared_ptr<H2Connection> connection_;
  const int32_t id_;
  Request request_;
  Response response_;
  std::string authority_;
  std::string cookies_;  // RFC 9113 8.2.3: split cookie fields are joined with "; "
  uint64_t header_bytes_ = 0;
  uint64_t charged_ = 0;    // bytes counted against the connection's and the process's budgets
  size_t body_offset_ = 0;  // response body bytes handed to nghttp2 so far
  // While the request is incomplete: its place in the connection's incomplete_ list.
  std::list<H2Stream*>::iterator deadline_it_;
  bool has_deadline_ = false;
  std::chrono::steady_clock::time_point deadline_;
  Problem problem_ = Problem::kNone;
  bool closed_ = false;            // nghttp2 closed the stream (done, reset, or connection gone)
  bool request_complete_ = false;  // END_STREAM received
  bool waiting_ = false;           // in the connection's queue for a handler
  bool handled_ = false;           // given to the handler
  bool responded_ = false;         // a response was submitted (or dropped)
  std::chrono::steady_clock::time_point started_;
};

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks. They run inside nghttp2_session_mem_recv/mem_send, on the worker thread;
// none calls the handler (see Ready) or writes to the socket (see Flush).

struct H2Connection::Callbacks {
  static H2Connection& Conn(void* user_data) { return *static_cast<H2Connection*>(user_data); }
  static H2Stream* StreamOf(nghttp2_session* session, int32_t id) {
    return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  // RFC 9113 5.1.1: a HEADERS opening a stream id lower than one the client already used is a
  // connection error PROTOCOL_ERROR. nghttp2 ignores it (it cannot tell a late trailer on a
  // stream it forgot from a reused id); with closed streams retained, an id it does not know
  // below the last one taken was never opened.
  static int OnBeginFrame(nghttp2_session* session, const nghttp2_frame_hd* hd, void* /*user*/) {
    if (hd->type == NGHTTP2_HEADERS && (hd->stream_id & 1) == 1 &&
        hd->stream_id < nghttp2_session_get_last_proc_stream_id(session) &&
        nghttp2_session_find_stream(session, hd->stream_id) == nullptr) {
      nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR);
    }
    return 0;
  }

  static int OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    H2Connection& c = Conn(user);
    auto stream = std::make_shared<H2Stream>(c.shared_from_this(), frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
    c.streams_[frame->hd.stream_id] = std::move(stream);
    return 0;
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* user) {
    H2Stream* s = StreamOf(session, frame->hd.stream_id);
    if (s == nullptr || s->problem_ != H2Stream::Problem::kNone) return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: not forwarded
    H2Connection& c = Conn(user);
    s->header_bytes_ += namelen + valuelen + kHeaderFieldOverhead;
    // Keep decoding (HPACK state must stay in sync) but stop storing; answered once the head is
    // complete.
    if (s->header_bytes_ > c.listener_->options().max_header_bytes) {
      s->problem_ = H2Stream::Problem::kHeadersTooLarge;
      c.Refuse(*s, 0, {});
      return 0;
    }
    if (!c.Charge(*s, namelen + valuelen + kHeaderFieldMemory)) {
      s->problem_ = H2Stream::Problem::kOverBudget;
      c.Refuse(*s, 0, {});
      return 0;
    }
    std::string_view n = View(name, namelen);
    std::string_view v = View(value, valuelen);
    if (!n.empty() && n.front() == ':') {
      // nghttp2 has already checked the pseudo-headers (RFC 9113 8.3.1).
      if (n == ":method") {
        s->request_.method_string(Bv(v));
      } else if (n == ":path") {
        s->request_.target(Bv(v));
      } else if (n == ":authority") {
        s->authority_.assign(v);
      }
      return 0;
    }
    if (n == "cookie") {
      if (!s->cookies_.empty()) s->cookies_.append("; ");
      s->cookies_.append(v);
      return 0;
    }
    s->request_.insert(Bv(n), Bv(v));
    return 0;
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    H2Stream* s = StreamOf(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    H2Connection& c = Conn(user);
    c.progressed_ = true;
    if (end_stream) {
      s->request_complete_ = true;
      c.EndDeadline(*s);
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      if (s->problem_ == H2Stream::Problem::kHeadersTooLarge) {
        c.Refuse(*s, 431, "431 request header fields too large");
        return 0;
      }
      if (s->problem_ == H2Stream::Problem::kOverBudget) {
        c.Refuse(*s, 503, kOverBudgetText);
        return 0;
      }
      s->FinishHead();
      auto length = s->request_.find(bhttp::field::content_length);
      uint32_t declared = 0;
      if (length != s->request_.end() && (!ParseUint(Sv(length->value()), &declared) ||
                                          declared > c.listener_->options().max_body_bytes)) {
        s->problem_ = H2Stream::Problem::kBodyTooLarge;
        c.Refuse(*s, 413, "413 request entity too large");
        return 0;
      }
      if (!end_stream) c.StartDeadline(*s);
    }
    if (end_stream && s->problem_ == H2Stream::Problem::kNone) c.Ready(*s);
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, uint8_t /*flags*/, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user) {
    H2Stream* s = StreamOf(session, stream_id);
    if (s == nullptr || s->problem_ != H2Stream::Problem::kNone) return 0;
    H2Connection& c = Conn(user);
    std::string& body = s->request_.body();
    if (body.size() + len > c.listener_->options().max_body_bytes) {
      s->problem_ = H2Stream::Problem::kBodyTooLarge;
      c.Refuse(*s, 413, "413 request entity too large");
      return 0;
    }
    if (!c.Charge(*s, len)) {
      s->problem_ = H2Stream::Problem::kOverBudget;
      c.Refuse(*s, 503, kOverBudgetText);
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_DATA) Conn(user).progressed_ = true;
    // A response sent before the whole request arrived (413, or a handler that did not need
    // the body): tell the client to stop sending (RFC 9113 8.1).
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    H2Stream* s = StreamOf(session, frame->hd.stream_id);
    if (s != nullptr && !s->request_complete_) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t /*error*/,
                           void* user) {
    H2Stream* s = StreamOf(session, stream_id);
    if (s == nullptr) return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    s->closed_ = true;
    H2Connection& c = Conn(user);
    c.EndDeadline(*s);
    auto it = c.streams_.find(stream_id);
    if (it != c.streams_.end()) {
      // Not destroyed here: nghttp2 is still on the call stack.
      c.released_.push_back(std::move(it->second));
      c.streams_.erase(it);
    }
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session* /*session*/, int32_t /*stream_id*/, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                          void* /*user*/) {
    auto* s = static_cast<H2Stream*>(source->ptr);
    const std::string& body = s->response_.body();
    const size_t n = std::min(length, body.size() - s->body_offset_);
    std::memcpy(buf, body.data() + s->body_offset_, n);
    s->body_offset_ += n;
    if (s->body_offset_ == body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

// ---------------------------------------------------------------------------------------------
// H2Connection

void H2Connection::Start(H2Transport&& socket, std::shared_ptr<Server::Listener> listener,
                         std::string client_ip, std::string_view received,
                         std::optional<Request> upgrade, uint64_t charged) {
  auto c =
      std::make_shared<H2Connection>(std::move(socket), std::move(listener), std::move(client_ip));
  if (!c->Init(&upgrade, &charged)) {
    if (charged > 0) c->listener_->ReturnBuffered(charged);  // stream 1 was never made
    return c->Close();
  }
  if (!received.empty())
    c->Receive(reinterpret_cast<const uint8_t*>(received.data()), received.size());
  if (c->closed_) return;
  if (c->listener_->draining) c->Drain();
  c->StartHandlers();
  c->DoWrite();
  if (nghttp2_session_want_read(c->session_) != 0) c->DoRead();
  c->UpdateTimer();
}

H2Connection::H2Connection(H2Transport&& socket, std::shared_ptr<Server::Listener> listener,
                           std::string client_ip)
    : socket_(std::move(socket)),
      listener_(std::move(listener)),
      client_ip_(std::move(client_ip)),
      timer_(listener_->deadlines, [this] { shared_from_this()->OnTimer(); }),
      write_timer_(listener_->deadlines, [this] { shared_from_this()->OnWriteTimeout(); }),
      stream_timer_(listener_->io_context()),
      budget_(H2ConnectionBudget(listener_->options())),
      read_buffer_(kReadChunk) {
  self_in_list_ = listener_->h2_connections.insert(listener_->h2_connections.end(), this);
  listener_->Count(1);
}

H2Connection::~H2Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  listener_->h2_connections.erase(self_in_list_);
  listener_->Count(-1);
}

bool H2Connection::Init(std::optional<Request>* upgrade, uint64_t* charged) {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::OnBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::OnDataChunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::OnFrameSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::OnStreamClose);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return false;
  }
  // Closed streams stay known to nghttp2 (it keeps at most SETTINGS_MAX_CONCURRENT_STREAMS of
  // them): a frame on a stream the client reset or that finished is then answered with
  // STREAM_CLOSED as RFC 9113 5.1 requires, instead of being dropped silently.
  nghttp2_option_set_max_outbound_ack(opt, kMaxOutboundAck);
  nghttp2_option_set_max_settings(opt, kMaxSettingsEntries);
  nghttp2_option_set_stream_reset_rate_limit(opt, kResetBurst, kResetRatePerSecond);
  const int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    session_ = nullptr;
    return false;
  }
  const uint64_t header_limit = listener_->options().max_header_bytes;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      // Advisory for the client; the limit itself is enforced per stream (431).
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<uint32_t>(
           std::min<uint64_t>(header_limit, std::numeric_limits<uint32_t>::max()))},
      // No server push: Sluice never sends PUSH_PROMISE; the default frame size (16 KiB) stays.
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) {
    return false;
  }
  if (upgrade->has_value()) {
    Request& req = **upgrade;
    std::string settings_payload;
    auto field = req.find("HTTP2-Settings");
    if (field == req.end() || !DecodeH2Settings(Sv(field->value()), &settings_payload)) {
      return false;
    }
    const bool head = req.method() == bhttp::verb::head;
    auto stream = std::make_shared<H2Stream>(shared_from_this(), 1);
    // The body read over HTTP/1.1 stays charged while the stream holds it (as any stream's, the
    // charge is returned when the stream goes).
    stream->charged_ = std::exchange(*charged, 0);
    buffered_bytes_ += stream->charged_;
    if (nghttp2_session_upgrade2(session_,
                                 reinterpret_cast<const uint8_t*>(settings_payload.data()),
                                 settings_payload.size(), head ? 1 : 0, nullptr) != 0) {
      return false;
    }
    // nghttp2 ignores upgrade2's stream_user_data on a server session: without this, stream 1's
    // callbacks (its close, a reset) did not find it, and it lived as long as the connection.
    nghttp2_session_set_stream_user_data(session_, 1, stream.get());
    req.erase(bhttp::field::upgrade);
    req.erase(bhttp::field::connection);
    req.erase("HTTP2-Settings");
    stream->request_ = std::move(req);
    stream->request_complete_ = true;  // the HTTP/1.1 body was read whole
    streams_[1] = stream;
    write_prefix_ =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    Ready(*stream);
  }
  return true;
}

void H2Connection::DoRead() {
  // One read at a time: LingeringClose (reached from DoWrite) may already have started one.
  if (reading_ || closed_) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(read_buffer_),
                          beast::bind_front_handler(&H2Connection::OnRead, shared_from_this()));
}

void H2Connection::OnRead(beast::error_code ec, std::size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (lingering_) return ec ? Close() : DoRead();  // discard until the client's FIN
  if (ec) {
    if (ec != asio::error::eof && ec != asio::error::connection_reset) {
      log::Debug("h2 connection from {}: read failed: {}", client_ip_, ec.message());
    }
    return Close();
  }
  Receive(read_buffer_.data(), bytes);
  if (closed_) return;
  StartHandlers();
  DoWrite();
  if (!closed_ && nghttp2_session_want_read(session_) != 0) DoRead();
  UpdateTimer();
}

void H2Connection::Receive(const uint8_t* data, std::size_t size) {
  in_nghttp2_ = true;
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  in_nghttp2_ = false;
  released_.clear();
  if (rv < 0) {
    // Not a protocol error (those queue a GOAWAY and return normally) but a fatal one: a bad
    // preface, a flood of frames that need answers the client does not read, out of memory.
    log::Debug("h2 connection from {}: {}", client_ip_, nghttp2_strerror(static_cast<int>(rv)));
    Close();
  }
}

bool H2Connection::Gather() {
  write_buffer_.clear();
  if (!write_prefix_.empty()) write_buffer_.swap(write_prefix_);
  ssize_t n = 0;
  while (write_buffer_.size() < kWriteBatch) {
    const uint8_t* data = nullptr;
    n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    write_buffer_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  released_.clear();
  if (n < 0) {
    log::Debug("h2 connection from {}: {}", client_ip_, nghttp2_strerror(static_cast<int>(n)));
    Close();
    return false;
  }
  return true;
}

void H2Connection::DoWrite() {
  if (writing_ || closed_ || lingering_) return;
  size_t written = 0;  // of write_buffer_, sent at once below
  for (int batch = 1;; ++batch) {
    if (!Gather()) return;
    if (write_buffer_.empty()) {
      // Nothing left to say, nothing more to hear (GOAWAY exchanged, or the final GOAWAY sent
      // and every stream finished): the connection is done.
      const bool done =
          nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
      const bool drained = final_goaway_sent_ && streams_.empty() && handlers_running_ == 0;
      if (done || drained) LingeringClose();
      return;
    }
    // Without TLS the bytes go out now, without a completion handler (whose turn would come
    // only after the event loop polled epoll again); what the socket does not take waits for
    // it below. A TLS stream is written through its own asynchronous operation.
    if (socket_.tls() != nullptr || batch > kDirectBatches) break;
    HeadAndBody buffers = {asio::buffer(write_buffer_), asio::const_buffer()};
    written = WriteNow(socket_.plain(), buffers);
    if (written < write_buffer_.size()) break;  // the rest (or an error) waits for the socket
    written = 0;                                // all of it: the next batch
  }
  writing_ = true;
  // Each write gets the whole write_timeout; a client that does not read is closed.
  if (const absl::Duration limit = listener_->options().write_timeout;
      limit > absl::ZeroDuration()) {
    write_timer_.ArmAfter(ToChrono(limit));
  }
  asio::async_write(socket_, asio::buffer(write_buffer_) + written,
                    beast::bind_front_handler(&H2Connection::OnWrite, shared_from_this()));
}

void H2Connection::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  write_timer_.Disarm();
  if (closed_ || lingering_) return;
  if (ec) return Close();
  DoWrite();
  UpdateTimer();
}

void H2Connection::Flush() {
  if (in_nghttp2_ || closed_ || lingering_) return;
  if (socket_.tls() != nullptr) {
    DoWrite();
    UpdateTimer();
    return;
  }
  // The answers of one epoll batch leave in one write, once its handlers have run (Asio runs a
  // posted handler after its next, non-blocking, poll): the backends' replies to a client's
  // streams mostly come in the same batch. Written as they came, the first went alone and the
  // others a turn later, when its write had completed.
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(listener_->io_context(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (self->closed_ || self->lingering_) return;
    self->DoWrite();
    self->UpdateTimer();
  });
}

void H2Connection::LingeringClose() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  if (socket_.tls() != nullptr) socket_.tls()->SendCloseNotify();
  beast::error_code ec;
  socket().shutdown(Socket::shutdown_send, ec);
  if (ec) return Close();
  timer_phase_ = TimerPhase::kLingering;
  timer_.ArmAfter(kLingerTimeout);
  if (!reading_) DoRead();
}

void H2Connection::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [id, stream] : streams_) stream->closed_ = true;
  // Streams still in the handler keep themselves (and this connection) alive until they answer.
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams;
  streams.swap(streams_);
  waiting_.clear();
  for (H2Stream* s : incomplete_) s->has_deadline_ = false;
  incomplete_.clear();
  timer_.Disarm();
  write_timer_.Disarm();
  stream_timer_.cancel();
  beast::error_code ignored;
  socket().close(ignored);
}

// The connection timer, for the phase it is in. Idle (no stream open, nothing running):
// idle_timeout, then GOAWAY. Stalled (streams open, no handler running): read_timeout without a
// DATA or HEADERS frame either way, then GOAWAY. With handlers running, the endpoint timeouts
// bound the wait instead. Control frames (PING, SETTINGS, WINDOW_UPDATE) and their answers move
// no deadline.
void H2Connection::UpdateTimer() {
  if (closed_ || lingering_) return;
  const ServerOptions& o = listener_->options();
  TimerPhase phase = TimerPhase::kNone;
  absl::Duration limit;
  if (handlers_running_ > 0) {
    phase = TimerPhase::kNone;
  } else if (streams_.empty()) {
    phase = TimerPhase::kIdle;
    limit = o.idle_timeout;
  } else {
    phase = TimerPhase::kStalled;
    limit = o.read_timeout;
  }
  if (limit <= absl::ZeroDuration()) phase = TimerPhase::kNone;  // zero: no limit
  const bool restart = phase == TimerPhase::kStalled && progressed_;
  progressed_ = false;
  if (phase == timer_phase_ && !restart) return;  // the deadline stands
  timer_phase_ = phase;
  if (phase == TimerPhase::kNone) {
    timer_.Disarm();
    return;
  }
  timer_.ArmAfter(ToChrono(limit));
}

void H2Connection::OnTimer() {
  if (closed_) return;
  if (timer_phase_ == TimerPhase::kLingering) return Close();  // the client never closed
  const TimerPhase phase = timer_phase_;
  if (lingering_ || phase == TimerPhase::kNone) return;
  timer_phase_ = TimerPhase::kNone;
  // Idle or stalled: say goodbye properly, then close once the GOAWAY is out.
  nghttp2_session_terminate_session(session_,
                                    phase == TimerPhase::kIdle ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
  DoWrite();
  // If the GOAWAY cannot be written within write_timeout, the write timer closes the socket.
  UpdateTimer();
}

void H2Connection::OnWriteTimeout() {
  if (writing_) Close();  // the client does not read
}

bool H2Connection::Charge(H2Stream& stream, uint64_t bytes) {
  if (buffered_bytes_ + bytes > budget_ || !listener_->TakeBuffered(bytes)) return false;
  buffered_bytes_ += bytes;
  stream.charged_ += bytes;
  return true;
}

void H2Connection::Uncharge(H2Stream& stream) {
  if (stream.charged_ == 0) return;
  buffered_bytes_ -= stream.charged_;
  listener_->ReturnBuffered(stream.charged_);
  stream.charged_ = 0;
}

void H2Connection::StartDeadline(H2Stream& stream) {
  const absl::Duration limit = listener_->options().read_timeout;
  if (limit <= absl::ZeroDuration() || stream.has_deadline_ || closed_) return;
  stream.deadline_ = std::chrono::steady_clock::now() + ToChrono(limit);
  stream.deadline_it_ = incomplete_.insert(incomplete_.end(), &stream);
  stream.has_deadline_ = true;
  ArmStreamTimer();
}

void H2Connection::EndDeadline(H2Stream& stream) {
  if (!stream.has_deadline_) return;
  incomplete_.erase(stream.deadline_it_);
  stream.has_deadline_ = false;
}

void H2Connection::ArmStreamTimer() {
  if (stream_timer_armed_ || incomplete_.empty() || closed_) return;
  stream_timer_armed_ = true;
  stream_timer_.expires_at(incomplete_.front()->deadline_);
  stream_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    self->stream_timer_armed_ = false;
    if (!ec) self->OnStreamTimer();
  });
}

void H2Connection::OnStreamTimer() {
  if (closed_ || lingering_) return;
  const auto now = std::chrono::steady_clock::now();
  bool answered = false;
  while (!incomplete_.empty() && incomplete_.front()->deadline_ <= now) {
    H2Stream& s = *incomplete_.front();
    EndDeadline(s);
    if (s.closed_ || s.responded_) continue;
    s.problem_ = H2Stream::Problem::kTimedOut;
    Refuse(s, 408, "408 request timeout");
    answered = true;
  }
  ArmStreamTimer();
  if (answered) Flush();
}

void H2Connection::Drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  nghttp2_submit_shutdown_notice(session_);
  Flush();
  auto grace = std::make_shared<asio::steady_timer>(listener_->io_context(), kGoawayNoticeGrace);
  grace->async_wait(
      [self = shared_from_this(), grace](beast::error_code) { self->SendFinalGoaway(); });
}

void H2Connection::SendFinalGoaway() {
  if (closed_ || final_goaway_sent_) return;
  final_goaway_sent_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  Flush();
}

void H2Connection::Ready(H2Stream& stream) {
  auto it = streams_.find(stream.id_);
  if (it == streams_.end()) return;
  stream.waiting_ = true;
  waiting_.push_back(it->second);
}

void H2Connection::StartHandlers() {
  if (starting_handlers_) return;  // a handler answered synchronously inside the loop below
  starting_handlers_ = true;
  while (!closed_ && !waiting_.empty() && handlers_running_ < kMaxHandlers) {
    std::shared_ptr<H2Stream> s = std::move(waiting_.front());
    waiting_.pop_front();
    s->waiting_ = false;
    if (s->closed_) continue;  // reset before its turn: never reaches the handler
    s->handled_ = true;
    ++handlers_running_;
    if (listener_->options().access_log) s->started_ = std::chrono::steady_clock::now();
    listener_->handler().Handle(std::move(s));
  }
  starting_handlers_ = false;
  // Streams that waited and were reset since leave the queue in order; the queue holds at most
  // kMaxConcurrentStreams open streams (nghttp2 refuses more), plus such leftovers.
  while (!waiting_.empty() && waiting_.front()->closed_) waiting_.pop_front();
}

void H2Connection::Respond(H2Stream& stream, Response&& response) {
  if (stream.responded_) return;  // Respond is called exactly once; be safe anyway
  stream.responded_ = true;
  if (stream.handled_) --handlers_running_;
  if (closed_ || stream.closed_) {
    // The client reset the stream (or the connection is gone): nothing to send. A handler slot
    // is free again.
    StartHandlers();
    Flush();
    return;
  }
  auto self = shared_from_this();  // Submit may close the stream and release it
  stream.response_ = std::move(response);
  Response& res = stream.response_;
  const ServerOptions& options = listener_->options();
  FinishResponse(options, stream.request_, &res);
  LogAccess(options, client_ip_, stream.request_, res.result_int(), stream.started_);
  Submit(stream);
  StartHandlers();
  Flush();
}

void H2Connection::Refuse(H2Stream& stream, unsigned status, std::string_view text) {
  stream.request_ = Request();
  Uncharge(stream);
  EndDeadline(stream);
  if (status != 0) LocalReply(stream, status, text);
}

void H2Connection::LocalReply(H2Stream& stream, unsigned status, std::string_view text) {
  stream.responded_ = true;
  stream.response_ = TextResponse(status, text);
  Submit(stream);
}

void H2Connection::Submit(H2Stream& stream) {
  // nghttp2 copies each value, and each name given without NO_COPY_NAME (lowercasing it). A
  // known name comes lowercase from a table that lives as long as the process, which satisfies
  // NO_COPY_NAME's rule (valid until the frame is sent or dropped) whatever becomes of the
  // stream; values stay copied, since a reset stream may be freed before nghttp2 drops its
  // HEADERS.
  const Response& res = stream.response_;
  const std::vector<std::string>& lowercase = LowercaseFieldNames();
  const std::string status = std::to_string(res.result_int());
  absl::InlinedVector<nghttp2_nv, 16> nva;
  nva.push_back(Nv(":status", status, NGHTTP2_NV_FLAG_NO_COPY_NAME));
  for (const auto& f : res) {
    // Connection-specific fields are forbidden in HTTP/2 (RFC 9113 8.2.2); Content-Length is
    // kept: FinishResponse (or TextResponse) set it to what is sent.
    if (f.name() != bhttp::field::content_length && IsHopByHop(f.name())) continue;
    const auto known = static_cast<unsigned>(f.name());
    if (f.name() == bhttp::field::unknown || known >= lowercase.size()) {
      nva.push_back(Nv(Sv(f.name_string()), Sv(f.value()), NGHTTP2_NV_FLAG_NONE));
    } else {
      nva.push_back(Nv(lowercase[known], Sv(f.value()), NGHTTP2_NV_FLAG_NO_COPY_NAME));
    }
  }
  nghttp2_data_provider body;
  body.source.ptr = &stream;
  body.read_callback = &Callbacks::ReadBody;
  const bool has_body = !res.body().empty();
  const int rv = nghttp2_submit_response(session_, stream.id_, nva.data(), nva.size(),
                                         has_body ? &body : nullptr);
  if (rv != 0) {
    log::Debug("h2 connection from {}: stream {}: {}", client_ip_, stream.id_,
               nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id_, NGHTTP2_INTERNAL_ERROR);
  }
}

}  // namespace sluice::http
