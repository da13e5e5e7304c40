#pragma once

// The public HTTP/1.1 (and, with use_h2c, cleartext HTTP/2) listener: one io_context per worker
// thread, one SO_REUSEPORT acceptor per worker (the kernel spreads connections; a worker holding
// more connections than another hands a new one to the one with fewest), one Session object per
// connection (Beast's advanced_server shape: DoRead/OnRead pairs; the workers share only counters
// and the connections one hands another).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "gateway/http/exchange.h"

namespace sluice::http {

class ServerTlsStore;

struct ServerOptions {
  std::string listen_ip;  // empty: all interfaces (IPv4 0.0.0.0)
  uint16_t port = 8080;   // 0: pick an ephemeral port (see Server::port())
  int workers = 1;
  absl::Duration read_header_timeout = absl::Seconds(10);
  absl::Duration read_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  absl::Duration idle_timeout = absl::Seconds(90);
  uint64_t max_header_bytes = 1 << 20;
  uint64_t max_body_bytes = 10 * 1024 * 1024;
  // One info line per request (method, target, status, latency) when on.
  bool access_log = false;
  // SO_REUSEPORT: the workers' acceptors share the port. Another process of the same user could
  // then bind the same port too; listeners that must stay unique (metrics) turn it off and run
  // a single worker.
  bool reuse_port = true;
  // A header set on every response, e.g. KrakenD's "X-Krakend: Version ..." (empty name: none).
  std::string identity_header_name;
  std::string identity_header_value;
  // Also accept cleartext HTTP/2 on the same port: prior knowledge (connection preface) and
  // `Upgrade: h2c`. Off: the HTTP/1.1 path is exactly as without HTTP/2 support.
  bool use_h2c = false;
  // Client connections (HTTP/1.1 and HTTP/2, all workers) open at once. At the limit each
  // worker stops accepting until one closes; new connections wait in the kernel's backlog.
  // 0: DefaultMaxConnections().
  int64_t max_connections = 0;
  // Request heads and bodies HTTP/2 streams may hold in memory at once, all connections of the
  // process together (a stream over it is answered 503). One connection may hold at most
  // H2ConnectionBudget() of it. 0: DefaultMaxBufferedRequestBytes().
  uint64_t max_buffered_request_bytes = 0;
  // TLS on the port (KrakenD's `tls`): every connection handshakes with the store's current
  // certificates, then speaks HTTP/1.1 or (ALPN h2) HTTP/2; plain HTTP is refused. Null: plain.
  ServerTlsStore* tls = nullptr;
};

// 256 MiB, or four of the largest requests (head and body) if that is more.
uint64_t DefaultMaxBufferedRequestBytes(const ServerOptions& options);
// What one HTTP/2 connection may hold: one largest request plus 1 MiB for other streams' heads
// and small bodies, at least 16 MiB, at most the process's budget.
uint64_t H2ConnectionBudget(const ServerOptions& options);

// Half the process's file-descriptor limit (RLIMIT_NOFILE, soft): the other half is for backend
// connections, the admin listeners, logs and files. At least 64.
int64_t DefaultMaxConnections();

// Threads with one io_context each. Created first so that per-worker state (backend pools) can be
// built on the same contexts before the listener starts.
class WorkerPool {
 public:
  explicit WorkerPool(int count);
  ~WorkerPool();

  int size() const { return static_cast<int>(contexts_.size()); }
  boost::asio::io_context& context(int i) { return *contexts_[i]; }

  void Start();
  // Stops every context and joins the threads. Idempotent.
  void Stop();

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
};

class Server {
 public:
  Server(ServerOptions options, WorkerPool& workers, Handler& handler);
  ~Server();

  // Binds one acceptor per worker and starts accepting. Fails with the address on bind errors.
  absl::Status Start();

  uint16_t port() const { return port_; }
  // The connection limit in force (max_connections, or its default).
  int64_t max_connections() const { return options_.max_connections; }

  // Graceful shutdown, step 1: stop accepting, close idle keep-alive connections, and close every
  // other connection once its in-flight response is written. Thread-safe.
  void BeginShutdown();

  // Connections still open (in-flight or idle).
  int64_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  // The same by worker index: the connections each worker holds, with those accepted for it and
  // not started yet (a new connection goes to the worker with the fewest). Empty before Start.
  std::vector<int64_t> worker_connections() const;
  // Request body bytes held now, of max_buffered_request_bytes.
  uint64_t buffered_request_bytes() const {
    return buffered_request_bytes_.load(std::memory_order_relaxed);
  }
  uint64_t total_connections() const { return total_connections_.load(std::memory_order_relaxed); }

  struct Listener;  // per-worker acceptor + sessions (internal)

 private:
  ServerOptions options_;
  WorkerPool& workers_;
  Handler& handler_;
  uint16_t port_ = 0;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<uint64_t> total_connections_{0};
  // Bytes charged by HTTP/2 streams and HTTP/1.1 bodies against max_buffered_request_bytes.
  std::atomic<uint64_t> buffered_request_bytes_{0};
};

}  // namespace sluice::http
