#include "tests/integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>

#include "boost/asio/connect.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/write.hpp"
#include "gtest/gtest.h"
#include "openssl/evp.h"

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// TestBackend

TestBackend::TestBackend(HandlerFn handler)
    : handler_(std::move(handler)),
      acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { AcceptLoop(); });
}

TestBackend::~TestBackend() {
  stopping_ = true;
  beast::error_code ec;
  acceptor_.close(ec);
  // Wake the blocking accept() by connecting once.
  {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  }
  acceptor_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : sockets_) {
      s->shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  for (auto& t : threads_) t.join();
}

void TestBackend::AcceptLoop() {
  while (!stopping_) {
    tcp::socket socket(ioc_);
    beast::error_code ec;
    acceptor_.accept(socket, ec);
    if (ec || stopping_) return;
    connections_++;
    auto shared = std::make_shared<tcp::socket>(std::move(socket));
    std::lock_guard<std::mutex> lock(mu_);
    sockets_.push_back(shared);
    threads_.emplace_back([this, shared] { Serve(*shared); });
  }
}

void TestBackend::Serve(tcp::socket& socket) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    Request req;
    beast::error_code ec;
    bhttp::read(socket, buffer, req, ec);
    if (ec) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    Response res = handler_(req);
    if (res.result_int() == 0) return;  // handler asks to drop the connection
    res.version(11);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    bhttp::write(socket, res, ec);
    if (ec || !req.keep_alive()) return;
  }
}

std::vector<Request> TestBackend::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

Request TestBackend::last_request() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.empty() ? Request() : requests_.back();
}

size_t TestBackend::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

Response TestBackend::Json(std::string body, unsigned status) {
  Response res(static_cast<bhttp::status>(status), 11);
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

// ---------------------------------------------------------------------------------------------
// ScriptedBackend

ScriptedBackend::ScriptedBackend(ScriptFn script)
    : script_(std::move(script)),
      acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { AcceptLoop(); });
}

ScriptedBackend::~ScriptedBackend() {
  stopping_ = true;
  beast::error_code ec;
  acceptor_.close(ec);
  {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  }
  acceptor_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
  }
  for (auto& t : threads_) t.join();
}

void ScriptedBackend::AcceptLoop() {
  while (!stopping_) {
    tcp::socket socket(ioc_);
    beast::error_code ec;
    acceptor_.accept(socket, ec);
    if (ec || stopping_) return;
    connections_++;
    auto shared = std::make_shared<tcp::socket>(std::move(socket));
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lock(mu_);
    // Connections whose thread has finished give back their thread and descriptor now, so a
    // long run (the soak) does not pile them up until the destructor.
    for (size_t i = 0; i < threads_.size();) {
      if (!done_[i]->load()) {
        ++i;
        continue;
      }
      threads_[i].join();
      threads_.erase(threads_.begin() + static_cast<long>(i));
      sockets_.erase(sockets_.begin() + static_cast<long>(i));
      done_.erase(done_.begin() + static_cast<long>(i));
    }
    sockets_.push_back(shared);
    done_.push_back(done);
    threads_.emplace_back([this, shared, done] {
      Serve(*shared);
      *done = true;
    });
  }
}

void ScriptedBackend::Serve(tcp::socket& socket) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    Request req;
    beast::error_code ec;
    bhttp::read(socket, buffer, req, ec);
    if (ec) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    const Reply reply = script_(req);
    asio::write(socket, asio::buffer(reply.bytes), ec);
    for (uint64_t i = 0; !ec && i < reply.repeat_count && !stopping_; ++i) {
      if (reply.repeat_interval.count() > 0) std::this_thread::sleep_for(reply.repeat_interval);
      asio::write(socket, asio::buffer(reply.repeat), ec);
    }
    if (ec) {
      if (reply.repeat_count > 0) cut_short_++;
      return;
    }
    if (reply.close) {
      socket.shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
  }
}

std::vector<Request> ScriptedBackend::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

// ---------------------------------------------------------------------------------------------
// Paths and processes

namespace {

std::string Runfiles() {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(dir ? dir : ".") + "/" + (ws ? ws : "sluice");
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// fork+exec of the sluice binary; stdout/stderr go to the returned pipes.
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, int* out_fd,
            int* err_fd) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]);
    close(err[0]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string bin = SluiceBinary();
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  *out_fd = out[0];
  *err_fd = err[0];
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1000;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, n);
  return s;
}

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string Runfile(const std::string& relative) { return Runfiles() + "/" + relative; }
std::string SluiceBinary() { return Runfiles() + "/gateway/sluice"; }

ServerProcess::ServerProcess(const std::string& runfile, const std::vector<std::string>& args,
                             const std::string& listening) {
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  const std::string bin = Runfile(runfile);
  std::vector<char*> argv{const_cast<char*>(bin.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  stdout_fd_ = out[0];
  const std::regex pattern(listening);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::smatch m;
  while (!std::regex_search(output_, m, pattern)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[512];
    ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    output_.append(buf, n);
  }
  if (std::regex_search(output_, m, pattern)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
  EXPECT_NE(port_, 0) << runfile << " did not report its port; stdout:\n" << output_;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

int ServerProcess::StopWith(int signo) {
  if (pid_ <= 0) return -1000;
  kill(pid_, signo);
  int status = 0;
  pid_t waited = waitpid(pid_, &status, 0);
  pid_ = -1;
  if (waited <= 0) return -1000;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}
std::string TestData(const std::string& relative) {
  return Runfiles() + "/tests/testdata/" + relative;
}

CommandResult RunSluice(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  CommandResult r;
  int out_fd = -1, err_fd = -1;
  pid_t pid = Spawn(args, env, &out_fd, &err_fd);
  if (pid < 0) return r;
  // Small outputs only (help text, diagnostics): read stderr after stdout without deadlock
  // risk because neither exceeds the pipe buffer.
  r.out = ReadAll(out_fd);
  r.err = ReadAll(err_fd);
  close(out_fd);
  close(err_fd);
  r.exit_code = WaitExit(pid);
  return r;
}

SluiceProcess::SluiceProcess(const std::string& config_json,
                             const std::vector<std::string>& extra_args,
                             const std::vector<std::string>& env, bool ephemeral_port) {
  static std::atomic<int> counter{0};
  config_path_ =
      TempDir() + "/sluice-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".json";
  std::ofstream(config_path_) << config_json;
  std::vector<std::string> args = {"run", "-c", config_path_};
  if (ephemeral_port) args.insert(args.end(), {"-p", "0"});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int out_fd = -1;
  // The admin plane defaults to fixed ports (9091, 9090); tests running side by side each take
  // ephemeral ones unless the test sets its own (later entries win).
  std::vector<std::string> full_env = {"SLUICE_ADMIN_ADDRESS=127.0.0.1:0",
                                       "SLUICE_METRICS_ADDRESS=127.0.0.1:0"};
  full_env.insert(full_env.end(), env.begin(), env.end());
  pid_ = Spawn(args, full_env, &out_fd, &stderr_fd_);
  close(out_fd);
  ReadLogUntil(
      [](const std::string& log) { return log.find(" listening on ") != std::string::npos; },
      std::chrono::seconds(20));
  std::smatch m;
  static const std::regex kListening(R"( listening on [^ ]*:(\d+) )");
  if (std::regex_search(log_, m, kListening)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
  EXPECT_NE(port_, 0) << "sluice did not report a listening port; log:\n" << log_;
}

SluiceProcess::~SluiceProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
  unlink(config_path_.c_str());
}

void SluiceProcess::ReadLogUntil(const std::function<bool(const std::string&)>& done,
                                 std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done(log_)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{stderr_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    char buf[4096];
    ssize_t n = read(stderr_fd_, buf, sizeof(buf));
    if (n <= 0) return;
    log_.append(buf, n);
  }
}

bool SluiceProcess::LogHas(const std::string& needle, std::chrono::milliseconds limit) {
  ReadLogUntil([&needle](const std::string& log) { return log.find(needle) != std::string::npos; },
               limit);
  return log_.find(needle) != std::string::npos;
}

std::string SluiceProcess::log() {
  ReadLogUntil([](const std::string&) { return false; }, std::chrono::milliseconds(200));
  return log_;
}

std::string SluiceProcess::AdminLineField(int group) {
  static const std::regex kAdminLine(R"(admin listening on ([^ ,]+), metrics on ([^ ,\s]+))");
  if (!admin_line_waited_) {
    ReadLogUntil([](const std::string& log) { return std::regex_search(log, kAdminLine); },
                 std::chrono::seconds(20));
    admin_line_waited_ = true;
  }
  std::smatch m;
  if (!std::regex_search(log_, m, kAdminLine)) return "";
  return m[group];
}

int SluiceProcess::StopWith(int signo) {
  if (pid_ <= 0) return -1000;
  kill(pid_, signo);
  int code = WaitExit(pid_);
  pid_ = -1;
  log_ += ReadAll(stderr_fd_);
  return code;
}

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  CommandResult r;
  int out[2], err[2];
  if (argv.empty() || pipe(out) != 0 || pipe(err) != 0) return r;
  const std::string bin = argv[0].find('/') == std::string::npos ? Which(argv[0]) : argv[0];
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]);
    close(err[0]);
    execv(bin.c_str(), args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  // Both pipes are drained together: a child blocked on a full stderr must not stall stdout.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  r.exit_code = WaitExit(pid);
  if (killed) r.exit_code = -9;
  return r;
}

std::string Which(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + tool;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

int OpenFds(pid_t pid) {
  int n = 0;
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

namespace {
// Binds `fd` (a TCP socket) to 127.0.0.1:port (0: one the kernel picks), without SO_REUSEADDR.
bool BindLoopback(int fd, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}
}  // namespace

ClosedPort::ClosedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  socklen_t size = sizeof addr;
  if (fd_ < 0 || !BindLoopback(fd_, 0) ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    ADD_FAILURE() << "cannot reserve a closed port: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
}

ClosedPort::~ClosedPort() {
  if (fd_ >= 0) ::close(fd_);
}

uint16_t FreePort() {
  // Below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port from inside it
  // could become, before the test's server binds it, the source port of any outgoing connection
  // on the machine or the port of any listener bound to port 0 (how every other test server
  // starts). Below it only another test's FreePort can take it, at random among thousands.
  int ephemeral_low = 32768, ephemeral_high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low >> ephemeral_high;
  constexpr int kLowest = 10000;
  if (ephemeral_low - kLowest >= 1000) {
    static std::mutex mu;  // tests may ask from several threads
    static std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(getpid()));
    std::uniform_int_distribution<int> pick(kLowest, ephemeral_low - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      uint16_t port;
      {
        std::lock_guard<std::mutex> lock(mu);
        port = static_cast<uint16_t>(pick(random));
      }
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      // Without SO_REUSEADDR: a port with connections in TIME_WAIT is skipped too.
      const bool free = BindLoopback(fd, port);
      ::close(fd);
      if (free) return port;
    }
  }
  return ClosedPort().port();  // no room below the range: one the kernel picks, released
}

namespace {
long StatusKiB(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  }
  return -1;
}
}  // namespace

long RssKiB(pid_t pid) { return StatusKiB(pid, "VmRSS:"); }
long PeakRssKiB(pid_t pid) { return StatusKiB(pid, "VmHWM:"); }

// ---------------------------------------------------------------------------------------------
// Clients

HttpClient::HttpClient(uint16_t port) : socket_(ioc_), port_(port) {}

namespace {
// A default-constructed Beast response says 200: failures must say 0.
Response Failed() {
  Response r;
  r.result(static_cast<unsigned>(0));
  return r;
}
}  // namespace

Response HttpClient::Send(Request req) {
  const bool head = req.method() == bhttp::verb::head;
  buffer_.clear();  // each answer read afresh, as before Write and Read were split out
  if (!Write(std::move(req))) return Failed();
  return Read(head);
}

bool HttpClient::Write(Request req) {
  beast::error_code ec;
  if (!socket_.is_open()) {
    buffer_.clear();
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    if (ec) {
      error_ = "connect: " + ec.message();
      return false;
    }
  }
  if (req.find(bhttp::field::host) == req.end()) req.set(bhttp::field::host, "gateway.test");
  if (req.version() == 0) req.version(11);
  req.prepare_payload();
  bhttp::write(socket_, req, ec);
  if (ec) {
    error_ = "write: " + ec.message();
    socket_.close(ec);
    return false;
  }
  return true;
}

Response HttpClient::Read(bool head) {
  beast::error_code ec;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (head) parser.skip(true);
  bhttp::read(socket_, buffer_, parser, ec);
  if (ec) {
    error_ = "read: " + ec.message();
    socket_.close(ec);
    return Failed();
  }
  Response res = parser.release();
  if (!res.keep_alive()) socket_.close(ec);
  return res;
}

Response HttpClient::Get(const std::string& target) {
  Request req(bhttp::verb::get, target, 11);
  return Send(std::move(req));
}

Response Fetch(uint16_t port, const std::string& method, const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers,
               const std::string& body) {
  HttpClient client(port);
  Request req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  for (const auto& [k, v] : headers) req.insert(k, v);
  req.body() = body;
  Response res = client.Send(std::move(req));
  if (res.result_int() == 0) ADD_FAILURE() << "request failed: " << client.error();
  return res;
}

uint16_t PortOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
}

std::string MetricsPage(SluiceProcess& gw) {
  return Fetch(PortOf(gw.metrics_address()), "GET", "/metrics").body();
}

double Sample(const std::string& page, const std::string& family,
              std::initializer_list<std::string> labels) {
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family, 0) != 0 || line.size() == family.size()) continue;
    if (line[family.size()] != '{' && line[family.size()] != ' ') continue;  // a longer name
    bool all = true;
    for (const std::string& label : labels) all = all && line.find(label) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nan("");
}

std::string RawExchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds limit) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return "";
  asio::write(socket, asio::buffer(bytes), ec);
  return ReadUntilClosed(socket, limit);
}

std::string ReadUntilClosed(tcp::socket& socket, std::chrono::milliseconds limit) {
  std::string out;
  beast::error_code ec;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{socket.native_handle(), POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) break;
    char buf[4096];
    size_t n = socket.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace sluice::testing
