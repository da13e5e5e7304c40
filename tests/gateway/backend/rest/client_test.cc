// The REST client's connection reuse against a real backend on 127.0.0.1 whose misbehaviour is
// scripted per connection: a backend that closes idle keep-alive connections, and one that drops
// a connection after reading a request without answering. The rule under test: a request is never
// sent twice unless sending it twice is harmless (Go's net/http rule), and a connection the
// backend already closed is never used.

#include "gateway/backend/rest/client.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read_until.hpp"
#include "boost/asio/write.hpp"
#include "gateway/backend/rest/backend.h"
#include "gtest/gtest.h"

namespace sluice::backend::rest {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

constexpr char kOk[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}";

// What a connection does with its n-th request (0-based): answer and keep the connection,
// answer and then close it, or close it without answering.
// kAnswerThenCloseLater closes 200 ms after the answer, when the client's loop is idle.
enum class Act { kAnswer, kAnswerThenClose, kAnswerThenCloseLater, kDropUnanswered };

// A blocking HTTP/1.1 backend: one thread, connections served one after the other. `script`
// decides per (connection number, request number on it). Records every request line. An answer
// is `pieces`, written one by one 30 ms apart (each arrives in a read of its own).
class ScriptedBackend {
 public:
  explicit ScriptedBackend(std::function<Act(int conn, int req)> script,
                           std::vector<std::string> pieces = {kOk})
      : script_(std::move(script)),
        pieces_(std::move(pieces)),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedBackend() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    // Unblock accept() with one last connection.
    tcp::socket poke(ioc_);
    poke.connect({asio::ip::make_address("127.0.0.1"), port_}, ignored);
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  // Connections this backend has closed (their FIN is on the wire once close() returned).
  int closed() const { return closed_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (int conn = 0; !stopping_; ++conn) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      ++connections_;
      std::string buffer;
      for (int req = 0;; ++req) {
        size_t n = asio::read_until(socket, asio::dynamic_buffer(buffer), "\r\n\r\n", ec);
        if (ec) break;
        std::string head = buffer.substr(0, n);
        buffer.erase(0, n);
        size_t length = 0;
        if (size_t at = head.find("Content-Length: "); at != std::string::npos) {
          length = std::stoul(head.substr(at + 16));
        }
        while (buffer.size() < length) {
          char chunk[512];
          size_t got = socket.read_some(asio::buffer(chunk), ec);
          if (ec) break;
          buffer.append(chunk, got);
        }
        buffer.erase(0, std::min(length, buffer.size()));
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(head.substr(0, head.find("\r\n")));
        }
        const Act act = script_(conn, req);
        if (act == Act::kDropUnanswered) break;
        for (size_t i = 0; i < pieces_.size() && !ec; ++i) {
          if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(30));
          asio::write(socket, asio::buffer(pieces_[i]), ec);
        }
        if (act == Act::kAnswerThenCloseLater) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        if (ec || act == Act::kAnswerThenClose || act == Act::kAnswerThenCloseLater) break;
      }
      socket.close(ec);
      ++closed_;
    }
  }

  std::function<Act(int, int)> script_;
  const std::vector<std::string> pieces_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = acceptor_.local_endpoint().port();
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> closed_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

class RestClientTest : public ::testing::Test {
 protected:
  // Sends one request through `client` and runs the io_context until it completes.
  CallResult Send(Client& client, int slot, bhttp::verb method, const std::string& target,
                  std::string body = "", const char* extra_header = nullptr) {
    Request req(method, target, 11);
    req.body() = std::move(body);
    if (extra_header != nullptr) req.set(extra_header, "k1");
    std::optional<CallResult> out;
    client.Send(slot, std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(5),
                [&out](CallResult&& r) { out = std::move(r); });
    // Until the answer, not until the loop runs dry: the worker's deadline sweep keeps a timer
    // until the 5 s deadline.
    ioc_.restart();
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!out && std::chrono::steady_clock::now() < limit) {
      ioc_.run_one_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : CallResult{};
  }

  int Register(Client& client, uint16_t port) {
    config::HostAddress host;
    host.host = "127.0.0.1";
    host.port = port;
    host.original = "127.0.0.1:" + std::to_string(port);
    absl::StatusOr<int> slot = client.RegisterHost(host);
    EXPECT_TRUE(slot.ok()) << slot.status();
    return slot.value_or(0);
  }

  asio::io_context ioc_;
};

// The backend closes every connection after its answer (without saying Connection: close): the
// pooled connection is seen closed before reuse, so a POST goes out once, on a new connection.
TEST_F(RestClientTest, AConnectionTheBackendClosedIsNotReused) {
  ScriptedBackend backend([](int, int) { return Act::kAnswerThenClose; });
  Client client(ioc_, ClientOptions{});
  const int slot = Register(client, backend.port());
  for (int i = 0; i < 3; ++i) {
    CallResult r = Send(client, slot, bhttp::verb::post, "/orders/" + std::to_string(i), "{}");
    EXPECT_TRUE(r.ok()) << i << ": " << r.error.message;
    // The backend's close is what the next request must notice: wait for it, not for a time.
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (backend.closed() < i + 1 && std::chrono::steady_clock::now() < limit) {
      std::this_thread::yield();
    }
    ASSERT_EQ(backend.closed(), i + 1);
  }
  EXPECT_EQ(backend.requests(),
            (std::vector<std::string>{"POST /orders/0 HTTP/1.1", "POST /orders/1 HTTP/1.1",
                                      "POST /orders/2 HTTP/1.1"}));
  EXPECT_EQ(backend.connections(), 3);
}

// The backend reads the second request of a keep-alive connection and drops it unanswered (it
// may have processed it): a POST is not sent again, it fails.
TEST_F(RestClientTest, APostLostOnAReusedConnectionIsNotRetried) {
  ScriptedBackend backend([](int conn, int req) {
    return conn == 0 && req == 1 ? Act::kDropUnanswered : Act::kAnswer;
  });
  Client client(ioc_, ClientOptions{});
  const int slot = Register(client, backend.port());
  EXPECT_TRUE(Send(client, slot, bhttp::verb::get, "/warm").ok());
  CallResult r = Send(client, slot, bhttp::verb::post, "/pay", R"({"amount": 5})");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error.kind, ErrorKind::kReset) << r.error.message;
  EXPECT_EQ(backend.requests(),
            (std::vector<std::string>{"GET /warm HTTP/1.1", "POST /pay HTTP/1.1"}));
}

// The same loss for a GET, or a POST carrying an Idempotency-Key: retried once, on a new
// connection, and the client sees the answer.
TEST_F(RestClientTest, ReplayableRequestsAreRetriedOnceOnANewConnection) {
  struct Row {
    bhttp::verb method;
    std::string body;
    const char* header;
    std::string line;
  };
  const Row rows[] = {
      {bhttp::verb::get, "", nullptr, "GET /again HTTP/1.1"},
      {bhttp::verb::head, "", nullptr, "HEAD /again HTTP/1.1"},
      {bhttp::verb::post, "{}", "Idempotency-Key", "POST /again HTTP/1.1"},
  };
  for (const Row& row : rows) {
    ScriptedBackend backend([](int conn, int req) {
      return conn == 0 && req == 1 ? Act::kDropUnanswered : Act::kAnswer;
    });
    Client client(ioc_, ClientOptions{});
    const int slot = Register(client, backend.port());
    EXPECT_TRUE(Send(client, slot, bhttp::verb::get, "/warm").ok());
    CallResult r = Send(client, slot, row.method, "/again", row.body, row.header);
    EXPECT_TRUE(r.ok()) << row.line << ": " << r.error.message;
    EXPECT_EQ(backend.requests(),
              (std::vector<std::string>{"GET /warm HTTP/1.1", row.line, row.line}));
    EXPECT_EQ(backend.connections(), 2);
  }
}

// The backend closes a keep-alive connection after an answer, while the client's event loop is
// not running: the next GET is written into it without a peek (the connection is known empty
// since its answer, http/readiness.h), fails there and goes again on a new connection, and the
// caller sees the answer. (Without the retry this test fails.)
TEST_F(RestClientTest, AGetOnAConnectionClosedUnseenIsAnswered) {
  ScriptedBackend backend([](int conn, int req) {
    return conn == 0 && req == 2 ? Act::kAnswerThenCloseLater : Act::kAnswer;
  });
  Client client(ioc_, ClientOptions{});
  const int slot = Register(client, backend.port());
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    const std::string target = "/get/" + std::to_string(i);
    CallResult r = Send(client, slot, bhttp::verb::get, target);
    EXPECT_TRUE(r.ok()) << target << ": " << r.error.message;
    expected.push_back("GET " + target + " HTTP/1.1");
    if (i == 2) {  // the close is on the wire; the client's loop does not run until the next GET
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (backend.closed() < 1 && std::chrono::steady_clock::now() < limit) {
        std::this_thread::yield();
      }
      ASSERT_EQ(backend.closed(), 1);
    }
  }
  EXPECT_EQ(backend.requests(), expected);  // the copy written into the closed one is never read
  EXPECT_EQ(backend.connections(), 2);
}

// Answers in their common form (a Content-Length, plain fields) are read without Beast's parser
// (http::ParseSimpleHead); the framing rules are the parser's all the same.
TEST_F(RestClientTest, AnAnswerInPiecesIsReadWholeAndItsConnectionReused) {
  const std::vector<std::vector<std::string>> answers = {
      // The head whole in the first read (read without Beast's parser), the body in two more.
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\n\r\n", "01234", "56789"},
      // The head in two reads: Beast's parser takes the answer.
      {"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 10\r\nX-A: 1\r\n\r\n01234", "56789"},
  };
  for (const auto& pieces : answers) {
    SCOPED_TRACE(pieces[0]);
    ScriptedBackend backend([](int, int) { return Act::kAnswer; }, pieces);
    Client client(ioc_, ClientOptions{});
    const int slot = Register(client, backend.port());
    for (int i = 0; i < 2; ++i) {
      CallResult r = Send(client, slot, bhttp::verb::get, "/pieces");
      ASSERT_TRUE(r.ok()) << r.error.message;
      EXPECT_EQ(r.response.body(), "0123456789");
      EXPECT_EQ(r.response["X-A"], "1");
      EXPECT_EQ(client.idle_connections(), 1u);
    }
    EXPECT_EQ(backend.connections(), 1);
  }
}

TEST_F(RestClientTest, AnAnswerCutShortIsAFailure) {
  ScriptedBackend backend([](int, int) { return Act::kAnswerThenClose; },
                          {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "01234"});
  Client client(ioc_, ClientOptions{});
  CallResult r = Send(client, Register(client, backend.port()), bhttp::verb::post, "/short", "{}");
  EXPECT_EQ(r.error.kind, ErrorKind::kReset);
  EXPECT_EQ(r.error.message, "read: partial message");
}

TEST_F(RestClientTest, ADeclaredLengthOverTheLimitFailsBeforeTheBody) {
  ScriptedBackend backend([](int, int) { return Act::kAnswer; },
                          {"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n"});
  ClientOptions options;
  options.max_response_bytes = 1000;
  Client client(ioc_, options);
  CallResult r = Send(client, Register(client, backend.port()), bhttp::verb::get, "/big");
  EXPECT_EQ(r.error.kind, ErrorKind::kBadResponse);
  EXPECT_EQ(r.error.message, "read: the answer is larger than the 1000-byte limit");
}

// Pooled only when the answer allows it and ends exactly where the next one would start.
TEST_F(RestClientTest, OnlyAnAnswerThatKeepsTheConnectionReturnsItToThePool) {
  struct Row {
    std::string answer;
    size_t pooled;
  };
  const Row rows[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 1},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 0},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}", 1},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}unasked", 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.answer);
    ScriptedBackend backend([](int, int) { return Act::kAnswer; }, {row.answer});
    Client client(ioc_, ClientOptions{});
    CallResult r = Send(client, Register(client, backend.port()), bhttp::verb::get, "/k");
    ASSERT_TRUE(r.ok()) << r.error.message;
    EXPECT_EQ(r.response.body(), "{}");
    EXPECT_EQ(client.idle_connections(), row.pooled);
  }
}

// A reload registers its new hosts from the main thread while each worker sends to the slots it
// has: the worker's calls go on being answered, every slot is its own, and the same host is the
// same slot. (That the slots never move is StableSlots' test; a race detector would be needed to
// see the old table move under a read.)
TEST_F(RestClientTest, HostsRegisteredWhileTheWorkerSendsLeaveItsSlotsInPlace) {
  ScriptedBackend backend([](int, int) { return Act::kAnswer; });
  Client client(ioc_, ClientOptions{});
  const int slot = Register(client, backend.port());
  constexpr int kCalls = 200;
  int answered = 0;
  int failed = 0;
  std::promise<void> all_answered;
  std::function<void()> send = [&] {
    Request req(bhttp::verb::get, "/k", 11);
    client.Send(slot, std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(5),
                [&](CallResult&& r) {
                  ++(r.ok() ? answered : failed);
                  if (answered + failed == kCalls) return all_answered.set_value();
                  send();
                });
  };
  asio::post(ioc_, send);
  std::thread worker([this] { ioc_.run(); });
  std::vector<int> slots;
  for (int i = 1; i <= 3000; ++i) {
    // Other ports on 127.0.0.1, never sent to.
    slots.push_back(Register(client, static_cast<uint16_t>(i == backend.port() ? 65535 : i)));
  }
  const bool done =
      all_answered.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  // The deadline sweep would run until the last call's deadline: stopped rather than drained.
  ioc_.stop();
  worker.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(answered, kCalls);
  for (size_t i = 0; i < slots.size(); ++i) EXPECT_EQ(slots[i], static_cast<int>(i) + 1);
  EXPECT_EQ(Register(client, backend.port()), slot);
  EXPECT_EQ(Register(client, 1), 1);
}

// http and https on one host and port are two pools: a connection of one never serves the other.
TEST_F(RestClientTest, TheSchemeIsPartOfAHostsSlot) {
  Client client(ioc_, ClientOptions{});
  config::HostAddress host;
  host.host = "127.0.0.1";
  host.port = 8443;
  const int plain = client.RegisterHost(host).value();
  host.scheme = "https";
  const int tls = client.RegisterHost(host).value();
  EXPECT_NE(plain, tls);
  EXPECT_EQ(client.RegisterHost(host).value(), tls);
}

TEST_F(RestClientTest, RegisteringPastTheHostLimitIsRefused) {
  std::vector<std::unique_ptr<Client>> clients;
  clients.push_back(std::make_unique<Client>(ioc_, ClientOptions{}));
  Client& client = *clients[0];
  config::HostAddress host;
  for (int i = 0; i < Client::kMaxHosts; ++i) {
    host.host = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    host.port = 80;
    ASSERT_TRUE(client.RegisterHost(host).ok()) << i;
  }
  host.host = "127.0.0.1";
  host.port = 8080;
  const std::string refusal =
      "more than 16384 distinct backend hosts since the gateway started (reloads included); "
      "restart it to register more";
  absl::StatusOr<int> refused = client.RegisterHost(host);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), refusal);
  // A backend naming a new host is refused with it; known hosts still resolve.
  absl::StatusOr<std::unique_ptr<RestBackend>> backend = RestBackend::Create(clients, {host});
  EXPECT_EQ(backend.status().message(), refusal);
  host.host = "10.0.0.7";
  host.port = 80;
  EXPECT_EQ(client.RegisterHost(host).value_or(-1), 7);
  EXPECT_TRUE(RestBackend::Create(clients, {host}).ok());
}

}  // namespace
}  // namespace sluice::backend::rest
