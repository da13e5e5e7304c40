// The HTTP front's workers: which one serves a new connection. Real sockets on 127.0.0.1, a
// real Server with two workers; the handler answers with the index of the worker it runs on.

#include "gateway/http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gateway/http/exchange.h"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

namespace bhttp = boost::beast::http;

// Waits (at most 5 s) until the server has `n` connections open.
bool WaitForOpen(const Server& server, int64_t n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.open_connections() != n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class WorkerIndex final : public Handler {
 public:
  void Handle(ExchangePtr exchange) override {
    Response res(bhttp::status::ok, 11);
    res.body() = std::to_string(exchange->worker_index());
    exchange->Respond(std::move(res));
  }
};

struct Front {
  explicit Front(int workers) : pool(workers), server(Options(), pool, handler) {
    status = server.Start();
    pool.Start();
  }
  // As the gateway stops: drain, then stop the workers once no connection is left (a session
  // destroyed with a stopped worker's queue would outlive the server).
  ~Front() {
    server.BeginShutdown();
    EXPECT_TRUE(WaitForOpen(server, 0));
    pool.Stop();
  }
  static ServerOptions Options() {
    ServerOptions o;
    o.listen_ip = "127.0.0.1";
    o.port = 0;
    o.use_h2c = true;
    return o;
  }
  WorkerIndex handler;
  WorkerPool pool;
  Server server;
  absl::Status status;
};

int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  const timeval bound{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// The worker that answers a request on the kept-alive HTTP/1.1 connection `fd` (-1: no answer).
int AskHttp1(int fd) {
  if (!SendAll(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")) return -1;
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos || got.size() < got.find("\r\n\r\n") + 5) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return -1;
    got.append(buf, static_cast<size_t>(n));
  }
  const char last = got.back();
  return last >= '0' && last <= '9' ? last - '0' : -1;
}

// The worker that answers a GET / on a new cleartext HTTP/2 connection `fd` (prior knowledge):
// the preface, an empty SETTINGS, and HEADERS on stream 1 (:method GET, :scheme http, :path / from
// the static table, :authority "t" literal); then the frames up to stream 1's DATA.
int AskH2(int fd) {
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  out += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // SETTINGS
  out += std::string("\x00\x00\x06\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x01t", 15);
  if (!SendAll(fd, out)) return -1;
  std::string in;
  char buf[4096];
  while (true) {
    while (in.size() >= 9) {
      const size_t length = (static_cast<uint8_t>(in[0]) << 16) |
                            (static_cast<uint8_t>(in[1]) << 8) | static_cast<uint8_t>(in[2]);
      if (in.size() < 9 + length) break;
      const bool data_on_1 = in[3] == 0x0 && in[8] == 0x1 && in[5] == 0 && in[6] == 0 && in[7] == 0;
      if (data_on_1 && length > 0) {
        const char last = in[9 + length - 1];
        return last >= '0' && last <= '9' ? last - '0' : -1;
      }
      in.erase(0, 9 + length);
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return -1;
    in.append(buf, static_cast<size_t>(n));
  }
}

// Client connections, closed when the test ends: before its Front drains, and after a failed
// ASSERT too.
struct Clients {
  ~Clients() {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
  // Opens `n` connections one after another, asks on each (over HTTP/2 on every other one, from
  // the first, when `h2`), and counts the connections each worker answered on.
  std::array<int, 2> Open(uint16_t port, int n, bool h2 = false) {
    std::array<int, 2> per_worker{};
    for (int i = 0; i < n; ++i) {
      fds.push_back(Connect(port));
      const int worker = h2 && i % 2 == 0 ? AskH2(fds.back()) : AskHttp1(fds.back());
      if (worker != 0 && worker != 1) {
        ADD_FAILURE() << "connection " << i << ": " << worker;
        continue;
      }
      ++per_worker[worker];
      if (!h2) {
        EXPECT_EQ(AskHttp1(fds.back()), worker) << "a kept-alive connection keeps its worker";
      }
    }
    return per_worker;
  }
  std::vector<int> fds;
};

// The kernel spreads SO_REUSEPORT connections by a hash of their ports: twenty connections
// split evenly one time in six. The front balances them on the connections each worker has.
TEST(ServerWorkers, NewConnectionsGoToTheWorkerWithFewest) {
  Front front(2);
  ASSERT_TRUE(front.status.ok()) << front.status;
  Clients clients;
  const std::array<int, 2> per_worker = clients.Open(front.server.port(), 20);
  EXPECT_EQ(per_worker[0], 10);
  EXPECT_EQ(per_worker[1], 10);
  // What the metrics show (sluice_worker_connections): the same split.
  EXPECT_EQ(front.server.worker_connections(), (std::vector<int64_t>{10, 10}));

  // Six of worker 0's connections close: the next six connections all go to it.
  int closed = 0;
  for (int& fd : clients.fds) {
    if (closed < 6 && AskHttp1(fd) == 0) {
      close(fd);
      fd = -1;
      ++closed;
    }
  }
  ASSERT_TRUE(WaitForOpen(front.server, 14));
  EXPECT_EQ(front.server.worker_connections(), (std::vector<int64_t>{4, 10}));
  for (int i = 0; i < 6; ++i) {
    clients.fds.push_back(Connect(front.server.port()));
    EXPECT_EQ(AskHttp1(clients.fds.back()), 0) << "connection " << i << " after the close";
  }
}

// HTTP/2 connections count as HTTP/1.1 ones do: alternate the two and the split stays even.
TEST(ServerWorkers, Http2ConnectionsCountToo) {
  Front front(2);
  ASSERT_TRUE(front.status.ok()) << front.status;
  Clients clients;
  const std::array<int, 2> per_worker = clients.Open(front.server.port(), 16, /*h2=*/true);
  EXPECT_EQ(per_worker[0], 8);
  EXPECT_EQ(per_worker[1], 8);
  // Exact as soon as the answers are in: an HTTP/1.1 session stops counting its connection when
  // it hands the socket to HTTP/2.
  EXPECT_EQ(front.server.worker_connections(), (std::vector<int64_t>{8, 8}));
  ASSERT_TRUE(WaitForOpen(front.server, 16)) << front.server.open_connections();
  EXPECT_EQ(front.server.worker_connections(), (std::vector<int64_t>{8, 8}));
}

// One worker: nothing to balance, every connection is served there.
TEST(ServerWorkers, OneWorkerServesAll) {
  Front front(1);
  ASSERT_TRUE(front.status.ok()) << front.status;
  for (int i = 0; i < 4; ++i) {
    const int fd = Connect(front.server.port());
    EXPECT_EQ(AskHttp1(fd), 0);
    close(fd);
  }
}

}  // namespace
}  // namespace sluice::http
