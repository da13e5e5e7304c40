// demo_backend: the small REST service that `tools/demo` and the demo integration test put behind
// Sluice. It answers fixed demo JSON on 127.0.0.1 only, over HTTP/1.1 with keep-alive.
//
//   GET  /users/{id}         {"email","id","name"} for ids 1..3, 404 JSON otherwise
//   GET  /users/{id}/posts   JSON array of that user's posts
//   GET  /catalog/items      {"count","items"[,"query"]}; ?q= filters names (case-insensitive)
//   GET  /status             {"ok":true}
//   POST /echo               {"content_type":..., "received": <the JSON body>}
//   GET  /slow?ms=N          waits N ms (at most 5000) on a timer, then {"slept_ms":N}
//   GET  /redirect           302 to /status
//
// Shape as in the Beast examples: a listener, one Session object per connection with
// DoRead/OnRead pairs, and a pure request handler (Handle) that returns the reply and how long to
// hold it back.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "nlohmann/json.hpp"

namespace sluice::demo {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

// The port tools/demo and examples/demo.json expect.
constexpr unsigned short kDefaultPort = 9000;
// Event-loop threads: enough to show concurrent requests; /slow waits on a timer, not a thread.
constexpr int kThreads = 2;
// Upper bound for /slow so a typo cannot park a connection for minutes.
constexpr long kMaxSlowMs = 5000;
// A keep-alive connection with no complete request for this long is closed.
constexpr auto kIdleTimeout = std::chrono::seconds(60);

// ---------------------------------------------------------------------------------------------
// Demo data

struct User {
  int id;
  const char* name;
  const char* email;
};
constexpr User kUsers[] = {
    {1, "Ada Lovelace", "ada@example.com"},
    {2, "Alan Turing", "alan@example.com"},
    {3, "Grace Hopper", "grace@example.com"},
};

struct Post {
  int id;
  int user_id;
  const char* title;
};
constexpr Post kPosts[] = {
    {1, 1, "Notes on the Analytical Engine"},
    {2, 1, "On Bernoulli numbers"},
    {3, 2, "On computable numbers"},
    {4, 2, "Computing machinery and intelligence"},
    {5, 3, "The first compiler"},
    {6, 3, "A nanosecond, explained"},
};

struct Item {
  const char* sku;
  const char* name;
  int price_cents;
};
constexpr Item kItems[] = {
    {"SL-100", "Sluice gate", 12000},
    {"SL-200", "Gate valve", 4500},
    {"SL-300", "Water wheel", 89000},
    {"SL-400", "Mill pond liner", 15000},
};

// ---------------------------------------------------------------------------------------------
// The handler: a pure function of the request.

struct Reply {
  Response response;
  std::chrono::milliseconds delay{0};  // /slow: how long to wait before writing
};

Reply MakeJson(bhttp::status status, const Json& body) {
  Reply r;
  r.response.result(status);
  r.response.set(bhttp::field::content_type, "application/json");
  r.response.body() = body.dump();
  return r;
}

Reply Error(bhttp::status status, const std::string& message) {
  return MakeJson(status, Json{{"error", message}});
}

// Splits "/users/1/posts" into {"users", "1", "posts"}.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t end = std::min(path.find('/'), path.size());
    out.push_back(path.substr(0, end));
    path.remove_prefix(end);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding of one query value: '+' is a space, %XX a byte; malformed escapes stay as-is.
std::string DecodeQueryValue(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t end = std::min(query.find('&'), query.size());
    std::string_view pair = query.substr(0, end);
    query.remove_prefix(std::min(end + 1, query.size()));
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? "" : DecodeQueryValue(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::optional<int> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const User* FindUser(std::string_view id_text) {
  std::optional<int> id = ParseId(id_text);
  if (!id) return nullptr;
  for (const User& u : kUsers) {
    if (u.id == *id) return &u;
  }
  return nullptr;
}

Reply UserOrPosts(std::string_view id_text, bool posts) {
  const User* user = FindUser(id_text);
  if (!user) return Error(bhttp::status::not_found, "user " + std::string(id_text) + " not found");
  if (!posts) {
    return MakeJson(bhttp::status::ok,
                    {{"id", user->id}, {"name", user->name}, {"email", user->email}});
  }
  Json list = Json::array();
  for (const Post& p : kPosts) {
    if (p.user_id != user->id) continue;
    list.push_back({{"id", p.id}, {"user_id", p.user_id}, {"title", p.title}});
  }
  return MakeJson(bhttp::status::ok, list);
}

Reply Catalog(std::string_view query) {
  std::optional<std::string> q = QueryParam(query, "q");
  Json items = Json::array();
  for (const Item& it : kItems) {
    if (q && Lower(it.name).find(Lower(*q)) == std::string::npos) continue;
    items.push_back({{"sku", it.sku}, {"name", it.name}, {"price_cents", it.price_cents}});
  }
  Json body = {{"count", items.size()}, {"items", std::move(items)}};
  if (q) body["query"] = *q;
  return MakeJson(bhttp::status::ok, body);
}

Reply Echo(const Request& req) {
  Json received = Json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (received.is_discarded()) return Error(bhttp::status::bad_request, "body is not JSON");
  auto ct = req.find(bhttp::field::content_type);
  Json content_type = ct == req.end() ? Json(nullptr) : Json(std::string(ct->value()));
  return MakeJson(bhttp::status::ok,
                  {{"received", std::move(received)}, {"content_type", content_type}});
}

Reply Slow(std::string_view query) {
  std::optional<std::string> ms_text = QueryParam(query, "ms");
  std::optional<int> ms = ParseId(ms_text.value_or("0"));
  if (!ms) return Error(bhttp::status::bad_request, "ms must be a non-negative integer");
  long bounded = std::min<long>(*ms, kMaxSlowMs);
  Reply r = MakeJson(bhttp::status::ok, {{"slept_ms", bounded}});
  r.delay = std::chrono::milliseconds(bounded);
  return r;
}

Reply Handle(const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  size_t qmark = std::min(target.find('?'), target.size());
  std::string_view path = target.substr(0, qmark);
  std::string_view query = target.substr(std::min(qmark + 1, target.size()));
  std::vector<std::string_view> seg = Segments(path);
  const bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;

  bool known = true;
  if (seg.size() == 2 && seg[0] == "users") {
    if (get) return UserOrPosts(seg[1], /*posts=*/false);
  } else if (seg.size() == 3 && seg[0] == "users" && seg[2] == "posts") {
    if (get) return UserOrPosts(seg[1], /*posts=*/true);
  } else if (path == "/catalog/items") {
    if (get) return Catalog(query);
  } else if (path == "/status") {
    if (get) return MakeJson(bhttp::status::ok, {{"ok", true}});
  } else if (path == "/echo") {
    if (req.method() == bhttp::verb::post) return Echo(req);
  } else if (path == "/slow") {
    if (get) return Slow(query);
  } else if (path == "/redirect") {
    if (get) {
      Reply r = MakeJson(bhttp::status::found, {{"location", "/status"}});
      r.response.set(bhttp::field::location, "/status");
      return r;
    }
  } else {
    known = false;
  }
  if (known) return Error(bhttp::status::method_not_allowed, "method not allowed");
  return Error(bhttp::status::not_found, "no such path: " + std::string(path));
}

// ---------------------------------------------------------------------------------------------
// Connections

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket&& socket)
      : stream_(std::move(socket)), timer_(stream_.get_executor()) {}

  void Start() {
    // Run on this connection's strand from the first operation on.
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    bhttp::async_read(stream_, buffer_, request_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return Close();
    reply_ = Handle(request_);
    Response& res = reply_.response;
    res.version(request_.version());
    res.keep_alive(request_.keep_alive());
    res.set(bhttp::field::server, "demo_backend");
    res.prepare_payload();
    if (request_.method() == bhttp::verb::head) res.body().clear();
    if (reply_.delay.count() == 0) return DoWrite();
    timer_.expires_after(reply_.delay);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->DoWrite(); });
  }

  void DoWrite() {
    stream_.expires_never();
    bhttp::async_write(stream_, reply_.response,
                       beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec || !reply_.response.keep_alive()) return Close();
    DoRead();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  Request request_;
  Reply reply_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor&& acceptor)
      : ioc_(ioc), acceptor_(std::move(acceptor)) {}

  void DoAccept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket))->Start();
    if (acceptor_.is_open()) DoAccept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
};

constexpr char kUsage[] =
    "Usage: demo_backend [--port N]\n"
    "Serves Sluice's demo JSON on 127.0.0.1:N (default 9000; 0 picks a free port).\n"
    "Prints \"demo_backend listening on 127.0.0.1:PORT\" once it accepts connections.\n";

int Main(int argc, char** argv) {
  unsigned long port = kDefaultPort;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    std::optional<int> parsed;
    if (arg == "--port" && i + 1 < argc) parsed = ParseId(argv[++i]);
    if (!parsed || *parsed > 65535) {
      std::cerr << "demo_backend: bad argument " << arg << "\n" << kUsage;
      return 2;
    }
    port = static_cast<unsigned long>(*parsed);
  }

  asio::io_context ioc(kThreads);
  tcp::acceptor acceptor(ioc);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "demo_backend: cannot listen on 127.0.0.1:" << port << ": " << ec.message()
              << "\n";
    return 1;
  }
  const unsigned short bound = acceptor.local_endpoint().port();
  std::make_shared<Listener>(ioc, std::move(acceptor))->DoAccept();

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  std::cout << "demo_backend listening on 127.0.0.1:" << bound << std::endl;

  std::vector<std::thread> threads;
  for (int i = 1; i < kThreads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace
}  // namespace sluice::demo

int main(int argc, char** argv) { return sluice::demo::Main(argc, argv); }
