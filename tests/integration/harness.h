#pragma once

// Test harness for end-to-end tests: real HTTP backends on 127.0.0.1 ephemeral ports, the real
// `sluice` binary as a child process, and a small blocking HTTP client. No mocks, no fixed ports.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace sluice::testing {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// An HTTP/1.1 backend on 127.0.0.1:<ephemeral>, one thread per connection, keep-alive aware.
// Records every request it receives and counts accepted connections.
class TestBackend {
 public:
  using HandlerFn = std::function<Response(const Request&)>;

  explicit TestBackend(HandlerFn handler);
  ~TestBackend();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<Request> requests() const;
  Request last_request() const;
  size_t request_count() const;
  int connections() const { return connections_.load(); }

  // A JSON 200 response.
  static Response Json(std::string body, unsigned status = 200);

 private:
  void AcceptLoop();
  void Serve(boost::asio::ip::tcp::socket& socket);

  HandlerFn handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::thread acceptor_thread_;
};

// A backend that answers with exact bytes, for attacks no well-behaved server can produce: for
// each request read on a connection, `script` says what to write back, byte for byte. One thread
// per connection on 127.0.0.1:<ephemeral>; records every request it reads.
class ScriptedBackend {
 public:
  struct Reply {
    std::string bytes;  // written in one write
    // Then `repeat` written `repeat_count` times (a long or endless body), `repeat_interval`
    // apart; stops early when the peer closes. Bounded by repeat_count.
    std::string repeat;
    uint64_t repeat_count = 0;
    std::chrono::milliseconds repeat_interval{0};
    bool close = false;  // close the connection after writing

    static Reply Of(std::string bytes) {
      Reply r;
      r.bytes = std::move(bytes);
      return r;
    }
  };
  using ScriptFn = std::function<Reply(const Request&)>;

  explicit ScriptedBackend(ScriptFn script);
  ~ScriptedBackend();
  ScriptedBackend(const ScriptedBackend&) = delete;
  ScriptedBackend& operator=(const ScriptedBackend&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const;
  int connections() const { return connections_.load(); }
  // Repeats cut short because the peer closed the connection.
  int cut_short() const { return cut_short_.load(); }

 private:
  void AcceptLoop();
  void Serve(boost::asio::ip::tcp::socket& socket);

  ScriptFn script_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> cut_short_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::shared_ptr<std::atomic<bool>>> done_;  // by connection: its thread ended
  std::thread acceptor_thread_;
};

// The real sluice binary, started with `run -c <config>` on an ephemeral port.
class SluiceProcess {
 public:
  // Writes `config_json` to a temp file and starts sluice with `-p 0` (unless `ephemeral_port` is
  // false: the file's port) plus `extra_args`. Waits until it logs its listening port (or fails
  // the test after 20 s).
  explicit SluiceProcess(const std::string& config_json,
                         const std::vector<std::string>& extra_args = {},
                         const std::vector<std::string>& env = {}, bool ephemeral_port = true);
  ~SluiceProcess();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends `signo` and waits for exit; returns the exit status (or -signal).
  int StopWith(int signo);
  // Everything the process has written to stderr so far (the log).
  std::string log();
  // The config file it was started with.
  const std::string& config_path() const { return config_path_; }
  // "HOST:PORT" of the admin gRPC and metrics listeners, from the startup line ("admin listening
  // on HOST:PORT, metrics on HOST:PORT"). The first call waits up to 20 s for it; empty if it
  // never appears.
  std::string admin_address() { return AdminLineField(1); }
  std::string metrics_address() { return AdminLineField(2); }
  // Reads the log until `done` says so or `limit` passes.
  void ReadLogUntil(const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds limit);
  // Whether the log holds `needle`, or comes to within `limit`: the gateway logs asynchronously,
  // so a line can arrive after the answer that caused it (log() waits only 200 ms).
  bool LogHas(const std::string& needle,
              std::chrono::milliseconds limit = std::chrono::seconds(20));

 private:
  std::string AdminLineField(int group);
  bool admin_line_waited_ = false;
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  uint16_t port_ = 0;
  std::string log_;
  std::string config_path_;
};

// A helper server binary from the test's runfiles (tools/demo_backend, tools/demo_grpc) started
// with `args`; its port is read from the first stdout line matching `listening` (one capture
// group: the port), waiting up to 20 s. SIGKILLed when destroyed if still running.
class ServerProcess {
 public:
  ServerProcess(const std::string& runfile, const std::vector<std::string>& args,
                const std::string& listening);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  // Sends `signo` and waits; returns the exit code, or -signal if it died of one.
  int StopWith(int signo);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  std::string output_;
};

// SHA-256 of `bytes` as lower-case hex (what `sluice check` and admin.Admin/Status report).
std::string Sha256Hex(const std::string& bytes);

// Holds test backends' handlers until opened; opened at the latest on destruction.
class Gate {
 public:
  Gate() : opened_(open_.get_future().share()) {}
  ~Gate() { Open(); }
  void Open() {
    if (!is_open_.exchange(true)) open_.set_value();
  }
  std::shared_future<void> opened() const { return opened_; }

 private:
  std::promise<void> open_;
  std::shared_future<void> opened_;
  std::atomic<bool> is_open_{false};
};

// Path of `relative` (e.g. "examples/demo.json") in the test's runfiles.
std::string Runfile(const std::string& relative);
// Path of the sluice binary in the test's runfiles.
std::string SluiceBinary();
// Path of a file under tests/testdata in runfiles.
std::string TestData(const std::string& relative);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the sluice binary with `args` to completion, capturing stdout and stderr.
CommandResult RunSluice(const std::vector<std::string>& args,
                        const std::vector<std::string>& env = {});

// Runs `argv` to completion; argv[0] is resolved with Which (tools such as nghttp, h2load).
// stdin is /dev/null. Past `limit` the child (and only it) is killed and exit_code is -9.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds limit = std::chrono::seconds(30));
// Full path of the executable `tool` on PATH, then in /usr/sbin and /sbin (where Debian puts
// haproxy and nginx, and which a test's PATH may lack); empty if none.
std::string Which(const std::string& tool);
// Resident memory of process `pid` in KiB (VmRSS), or -1.
long RssKiB(pid_t pid);
// Open file descriptors of process `pid` (from /proc), or -1.
int OpenFds(pid_t pid);
// A TCP port on 127.0.0.1 nothing listens on now (bound, then released): for a server a test
// starts on it next. Picked at random below the kernel's ephemeral port range, which outgoing
// connections and servers bound to port 0 draw from. For a backend that must stay down,
// ClosedPort.
uint16_t FreePort();

// A TCP port on 127.0.0.1 where nothing listens and nothing else can while this lives: a
// socket bound to it that never listens (a connect is refused at once). A port merely found
// free can be taken by another test's listener (tests run side by side), which then answers in
// the dead backend's place.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};
// The most resident memory process `pid` has had so far, in KiB (VmHWM), or -1: catches a peak
// that a sample of RssKiB after the fact would miss.
long PeakRssKiB(pid_t pid);
// How much more memory the same work takes in this build: the gateway under test is built with
// the test, and AddressSanitizer's redzones and freed-memory quarantine roughly double it.
// Multiply an RSS bound by this; it stays well below what the attacks it guards against took.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kRssAllowanceFactor = 3;
#else
inline constexpr long kRssAllowanceFactor = 1;
#endif

// A blocking HTTP/1.1 client over one keep-alive connection to 127.0.0.1:port.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port);
  // Sends `req` (Host and Content-Length set automatically) and reads the response. On a
  // connection error the returned response has status 0 and `error()` says why.
  Response Send(Request req);
  Response Get(const std::string& target);
  // Send in two halves, for a request written before the last answer is read: Write returns
  // false (and error() says why) on failure; Read returns the next answer (`head`: to a HEAD).
  bool Write(Request req);
  Response Read(bool head = false);
  const std::string& error() const { return error_; }
  // The connection (open after the first Write), for socket options and shutdown.
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  uint16_t port_;
  boost::beast::flat_buffer buffer_;  // bytes read past the last answer
  std::string error_;
};

// One request on a fresh connection.
Response Fetch(uint16_t port, const std::string& method, const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers = {},
               const std::string& body = "");

// Sends raw bytes on a new connection and reads until the peer closes or `limit` passes.
std::string RawExchange(uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds limit = std::chrono::seconds(5));

// Reads from `socket` until the peer closes (or resets) it or `limit` passes.
std::string ReadUntilClosed(boost::asio::ip::tcp::socket& socket,
                            std::chrono::milliseconds limit = std::chrono::seconds(5));

// Waits (bounded) for a condition another process or thread makes true. The default bound is
// generous: it costs time only when the test fails anyway, and a loaded CI machine under ASan can
// be several times slower than a laptop.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// The port of a "HOST:PORT" address.
uint16_t PortOf(const std::string& address);

// The gateway's Prometheus page (from its metrics listener).
std::string MetricsPage(SluiceProcess& gw);

// The value of the first sample of `family` on a Prometheus page whose line contains every one
// of `labels`; NaN (equal to nothing) when there is none.
double Sample(const std::string& page, const std::string& family,
              std::initializer_list<std::string> labels = {});

}  // namespace sluice::testing
