#include "gateway/backend/rest/client.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/write.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core/bind_handler.hpp"
#include "boost/beast/core/error.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/tcp_stream.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/write.hpp"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::backend::rest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Bound to the worker's concrete executor type (see gateway/http/server.cc for why).
using Stream = beast::basic_stream<tcp, asio::io_context::executor_type, beast::unlimited_rate_policy>;

// Read buffer per backend connection: a typical API response (head and body) fits in one read,
// where Beast's default growth from 512 bytes costs several reads per response.
constexpr std::size_t kResponseReadBuffer = 8 * 1024;

struct Connection {
  explicit Connection(asio::io_context& ioc) : stream(ioc.get_executor()) {
    buffer.reserve(kResponseReadBuffer);
  }
  Stream stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
};

std::string HostHeader(const config::HostAddress& host) {
  bool default_port = (host.scheme == "http" && host.port == 80) ||
                      (host.scheme == "https" && host.port == 443);
  std::string name = host.host.find(':') != std::string::npos ? "[" + host.host + "]" : host.host;
  return default_port ? name : absl::StrCat(name, ":", host.port);
}

bool IsRedirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Whether an idle pooled connection can still carry a request: the backend has neither closed
// it (EOF, reset) nor written to it. One non-blocking peek per reuse; without it a request would
// be written into a connection the backend already closed, and a POST could then only fail
// (see Replayable) or be sent twice.
bool IsAlive(Stream& stream) {
  char byte;
  const ssize_t n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Whether a request may be sent again after its connection broke before any response byte (Go's
// net/http rule): the backend may have processed a POST before the connection died.
bool Replayable(const Request& request) {
  const bhttp::verb m = request.method();
  const bool safe = m == bhttp::verb::get || m == bhttp::verb::head ||
                    m == bhttp::verb::options || m == bhttp::verb::trace;
  return (safe && request.body().empty()) || request.find("Idempotency-Key") != request.end() ||
         request.find("X-Idempotency-Key") != request.end();
}

// Errors that mean "the pooled connection was already closed by the backend".
bool IsStaleConnection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == bhttp::error::partial_message;
}

Error ToError(const beast::error_code& ec, std::string_view phase) {
  Error e;
  e.message = std::string(phase) + ": " + ec.message();
  if (ec == beast::error::timeout) {
    e.kind = ErrorKind::kTimeout;
  } else if (phase == "connect" || phase == "resolve") {
    e.kind = ErrorKind::kConnect;
  } else if (IsStaleConnection(ec)) {
    e.kind = ErrorKind::kReset;  // closed before (or in the middle of) the response
  } else if (ec == bhttp::error::body_limit || ec.category() == bhttp::make_error_code(
                                                                      bhttp::error::bad_target)
                                                                      .category()) {
    e.kind = ErrorKind::kBadResponse;
  } else {
    e.kind = ErrorKind::kReset;
  }
  return e;
}

}  // namespace

struct Client::HostPool {
  config::HostAddress address;
  std::string host_header;
  std::string port_text;
  std::optional<tcp::endpoint> endpoint;  // set when `host` is an IP literal: no resolver needed
  std::vector<std::unique_ptr<Connection>> idle;
};

// One backend exchange, including retries on stale connections and redirects.
class Client::Call : public std::enable_shared_from_this<Client::Call> {
 public:
  Call(Client& client, int slot, Request&& request, Deadline deadline, Callback done)
      : client_(client), pool_(client.hosts_[slot].get()), request_(std::move(request)),
        deadline_(deadline), done_(std::move(done)) {}

  void Start() {
    request_.set(bhttp::field::host, pool_->host_header);
    request_.prepare_payload();
    TakeConnection();
  }

 private:
  void TakeConnection() {
    const auto now = std::chrono::steady_clock::now();
    while (pooled_ && !pool_->idle.empty()) {
      std::unique_ptr<Connection> c = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      if (now - c->idle_since < client_.options_.idle_connection_timeout && IsAlive(c->stream)) {
        conn_ = std::move(c);
        reused_ = true;
        return DoWrite();
      }
    }
    reused_ = false;
    conn_ = std::make_unique<Connection>(client_.ioc_);
    conn_->stream.expires_at(deadline_);
    if (pool_->endpoint) {
      conn_->stream.async_connect(*pool_->endpoint,
                                  beast::bind_front_handler(&Call::OnConnect, shared_from_this()));
      return;
    }
    // Only host names need a resolver: constructing one looks up an Asio service under a lock,
    // so IP-literal hosts (the common case) never create it.
    resolver_.emplace(client_.ioc_);
    resolver_->async_resolve(pool_->address.host, pool_->port_text,
                             beast::bind_front_handler(&Call::OnResolve, shared_from_this()));
  }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return Finish(ToError(ec, "resolve"));
    conn_->stream.async_connect(
        results, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
          self->OnConnect(e);
        });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) return Finish(ToError(ec, "connect"));
    beast::error_code ignored;
    conn_->stream.socket().set_option(tcp::no_delay(true), ignored);
    DoWrite();
  }

  void DoWrite() {
    conn_->stream.expires_at(deadline_);
    head_.clear();
    http::AppendRequestHead(request_, &head_);
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_),
                                                       asio::buffer(request_.body())};
    asio::async_write(conn_->stream, buffers,
                      beast::bind_front_handler(&Call::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) return RetryOrFail(ec, "write");
    parser_.emplace();
    parser_->body_limit(client_.options_.max_response_bytes);
    bhttp::async_read(conn_->stream, conn_->buffer, *parser_,
                      beast::bind_front_handler(&Call::OnRead, shared_from_this()));
  }

  void RetryOrFail(beast::error_code ec, std::string_view phase) {
    if (reused_ && IsStaleConnection(ec) && !(parser_ && parser_->got_some()) &&
        Replayable(request_)) {
      // The backend closed this keep-alive connection just as it was reused (the peek in
      // TakeConnection saw it open); nothing of the response arrived: retry once on a new
      // connection, when sending the request twice is harmless.
      parser_.reset();
      conn_.reset();
      pooled_ = false;
      return TakeConnection();
    }
    Finish(ToError(ec, phase));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return RetryOrFail(ec, "read");
    Response response = parser_->release();
    parser_.reset();
    const bool reusable = response.keep_alive() && request_.keep_alive();
    ReleaseConnection(reusable);
    if (IsRedirect(response.result_int()) && redirects_ < client_.options_.max_redirects &&
        FollowRedirect(response)) {
      return;
    }
    CallResult result;
    result.response = std::move(response);
    done_(std::move(result));
  }

  void ReleaseConnection(bool reusable) {
    if (reusable && own_pool_ && pool_->idle.size() < client_.options_.max_idle_per_host) {
      conn_->idle_since = std::chrono::steady_clock::now();
      conn_->stream.expires_never();
      pool_->idle.push_back(std::move(conn_));
    }
    conn_.reset();
  }

  // Follows a Location to the same backend host (pooled) or to another plain-HTTP host
  // (one-off connection). Returns false when the Location cannot be followed.
  bool FollowRedirect(const Response& response) {
    auto location = response.find(bhttp::field::location);
    if (location == response.end()) return false;
    std::string_view loc = Sv(location->value());
    std::string target;
    if (StartsWith(loc, "/")) {
      target = std::string(loc);
    } else if (StartsWith(loc, "http://")) {
      std::string_view rest = loc.substr(7);
      size_t slash = rest.find('/');
      std::string_view authority = rest.substr(0, slash);
      target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
      if (authority != pool_->host_header) {
        auto other = std::make_unique<HostPool>();
        size_t colon = authority.rfind(':');
        other->address.host = std::string(authority.substr(0, colon));
        uint32_t port = 80;
        if (colon != std::string_view::npos &&
            !ParseUint(authority.substr(colon + 1), &port)) {
          return false;
        }
        other->address.port = static_cast<uint16_t>(port);
        other->host_header = std::string(authority);
        other->port_text = absl::StrCat(port);
        redirect_pool_ = std::move(other);
        pool_ = redirect_pool_.get();
        own_pool_ = false;
        pooled_ = false;
      }
    } else {
      return false;
    }
    ++redirects_;
    const unsigned status = response.result_int();
    if (status == 303 || ((status == 301 || status == 302) &&
                          request_.method() == bhttp::verb::post)) {
      request_.method(bhttp::verb::get);
      request_.body().clear();
      request_.erase(bhttp::field::content_type);
    }
    request_.target(target);
    request_.set(bhttp::field::host, pool_->host_header);
    request_.prepare_payload();
    TakeConnection();
    return true;
  }

  void Finish(Error error) {
    conn_.reset();
    CallResult result;
    result.error = std::move(error);
    done_(std::move(result));
  }

  Client& client_;
  HostPool* pool_;
  std::unique_ptr<HostPool> redirect_pool_;
  Request request_;
  std::string head_;  // serialised head of request_
  Deadline deadline_;
  Callback done_;
  std::optional<tcp::resolver> resolver_;
  std::unique_ptr<Connection> conn_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  bool reused_ = false;
  bool pooled_ = true;    // may take idle connections
  bool own_pool_ = true;  // connections may be returned to the pool
  int redirects_ = 0;
};

Client::Client(asio::io_context& ioc, ClientOptions options)
    : ioc_(ioc), options_(options) {}

Client::~Client() = default;

int Client::RegisterHost(const config::HostAddress& host) {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i]->address.host == host.host && hosts_[i]->address.port == host.port) {
      return static_cast<int>(i);
    }
  }
  auto pool = std::make_unique<HostPool>();
  pool->address = host;
  pool->host_header = HostHeader(host);
  pool->port_text = absl::StrCat(host.port);
  beast::error_code ec;
  auto ip = asio::ip::make_address(host.host, ec);
  if (!ec) pool->endpoint = tcp::endpoint(ip, host.port);
  hosts_.push_back(std::move(pool));
  return static_cast<int>(hosts_.size() - 1);
}

void Client::Send(int slot, Request&& request, Deadline deadline, Callback done) {
  std::make_shared<Call>(*this, slot, std::move(request), deadline, std::move(done))->Start();
}

size_t Client::idle_connections() const {
  size_t n = 0;
  for (const auto& h : hosts_) n += h->idle.size();
  return n;
}

}  // namespace sluice::backend::rest
