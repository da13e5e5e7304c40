// The HTTP/2 session as a client reaches it: an in-process server with use_h2c on 127.0.0.1 (one
// worker; a handler that answers at once, or later on its loop, and reads the body), and each
// input written after the connection preface on a new connection whose write side is then
// closed; the harness reads until the server closes. nghttp2 parses the frames; what is fuzzed
// is Sluice's side of the session: streams to exchanges, header and body budgets, resets, flow
// control, timers, GOAWAY. Each input's connection must end (the read has a 2 s bound).

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "boost/asio/post.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/server.h"

namespace {

namespace bhttp = boost::beast::http;

class Answer final : public sluice::http::Handler {
 public:
  void Handle(sluice::http::ExchangePtr exchange) override {
    const sluice::http::Request& req = exchange->request();
    sluice::http::Response res(bhttp::status::ok, 11);
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = std::to_string(req.body().size());
    if (req.target().size() % 2 == 0) return exchange->Respond(std::move(res));
    boost::asio::io_context& ioc = exchange->io_context();
    boost::asio::post(ioc, [exchange = std::move(exchange), res = std::move(res)]() mutable {
      exchange->Respond(std::move(res));
    });
  }
};

struct Front {
  Front() : pool(1), server(Options(), pool, handler) {
    if (!server.Start().ok()) std::abort();
    pool.Start();
  }
  static sluice::http::ServerOptions Options() {
    sluice::http::ServerOptions o;
    o.listen_ip = "127.0.0.1";
    o.port = 0;
    o.use_h2c = true;
    o.reuse_port = false;
    o.read_header_timeout = absl::Milliseconds(300);
    o.read_timeout = absl::Milliseconds(300);
    o.write_timeout = absl::Milliseconds(300);
    o.idle_timeout = absl::Milliseconds(300);
    o.max_header_bytes = 64 * 1024;
    o.max_body_bytes = 256 * 1024;
    return o;
  }
  Answer handler;
  sluice::http::WorkerPool pool;
  sluice::http::Server server;
};

Front& TheFront() {
  static Front* front = new Front();  // lives as long as the fuzzer
  return *front;
}

// A new connection to the front. Thousands a second leave as many in TIME_WAIT: each comes from
// another of 127.0.0.2-251 (multiplying the ephemeral ports by 250), with the port chosen at
// connect time for the whole address pair, and a connect that still finds no free port waits a
// little and tries again (as does one interrupted by a signal: libFuzzer's timers).
int Connect(uint16_t port) {
  static uint32_t next_source = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) std::abort();
    const int on = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (next_source++ % 250));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) == 0 &&
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return fd;
    }
    const int error = errno;
    close(fd);
    if (error != EADDRNOTAVAIL && error != EADDRINUSE && error != EINTR) {
      std::fprintf(stderr, "h2_fuzz: connect: %s\n", std::strerror(error));
      std::abort();
    }
    usleep(1000);
  }
  std::fprintf(stderr, "h2_fuzz: no local port for 1 s\n");
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Front& front = TheFront();
  const int fd = Connect(front.server.port());
  const timeval bound{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";  // the client connection preface
  bytes.append(reinterpret_cast<const char*>(data), size);
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed (a protocol error): fine
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char buf[16384];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      // EAGAIN: the server kept the connection 2 s after the client finished sending, past
      // every one of its 300 ms timers.
      if (errno == EAGAIN || errno == EWOULDBLOCK) std::abort();
      break;
    }
  }
  close(fd);
  return 0;
}
