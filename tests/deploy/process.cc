#include "tests/deploy/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;

// argv and envp prepared before fork(): after it, the child of a multi-threaded test may only make
// async-signal-safe calls.
struct Prepared {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

Prepared Prepare(const Command& command) {
  Prepared p;
  p.argv_storage = command.argv;
  std::map<std::string, std::string> env;
  if (!command.clear_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      env[entry.substr(0, entry.find('='))] = entry;
    }
  }
  for (const auto& entry : command.env) env[entry.substr(0, entry.find('='))] = entry;
  for (auto& [key, entry] : env) p.env_storage.push_back(entry);
  for (auto& a : p.argv_storage) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (auto& e : p.env_storage) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  return p;
}

// In the child: chroot, drop privileges, exec. Only async-signal-safe calls.
[[noreturn]] void ExecChild(const Command& command, Prepared& p) {
  if (command.pass_fd >= 0) {
    // dup2 clears close-on-exec on the copy; a descriptor that already is 3 needs it cleared.
    if (command.pass_fd == 3 ? fcntl(3, F_SETFD, 0) != 0 : dup2(command.pass_fd, 3) != 3) {
      _exit(126);
    }
  }
  if (!command.root.empty()) {
    if (chroot(command.root.c_str()) != 0) _exit(126);
    if (chdir(command.cwd.empty() ? "/" : command.cwd.c_str()) != 0) _exit(126);
  } else if (!command.cwd.empty() && chdir(command.cwd.c_str()) != 0) {
    _exit(126);
  }
  if (command.gid) {
    if (setgroups(0, nullptr) != 0 || setgid(*command.gid) != 0) _exit(126);
  }
  if (command.uid && setuid(*command.uid) != 0) _exit(126);
  execve(p.argv[0], p.argv.data(), p.envp.data());
  _exit(127);
}

void AppendAvailable(int fd, std::string* out) {
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out->append(buf, static_cast<size_t>(n));
}

}  // namespace

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

Completed RunToEnd(std::vector<std::string> argv, std::chrono::milliseconds limit) {
  Command command;
  command.argv = std::move(argv);
  return RunToEnd(command, limit);
}

Completed RunToEnd(const Command& command, std::chrono::milliseconds limit) {
  Completed result;
  if (command.argv.empty()) return result;
  Prepared p = Prepare(command);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return result;
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    ExecChild(command, p);
  }
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    return result;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  const auto deadline = Clock::now() + limit;
  bool out_open = true, err_open = true, killed = false;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
      result.err += "\n[killed after " + std::to_string(limit.count()) + " ms]";
    }
    pollfd fds[2] = {{out[0], static_cast<short>(out_open ? POLLIN : 0), 0},
                     {err[0], static_cast<short>(err_open ? POLLIN : 0), 0}};
    poll(fds, 2, killed ? 1000 : static_cast<int>(std::max<int64_t>(1, left.count())));
    if (fds[0].revents != 0) {
      AppendAvailable(out[0], &result.out);
      if (fds[0].revents & (POLLHUP | POLLERR)) out_open = false;
    }
    if (fds[1].revents != 0) {
      AppendAvailable(err[0], &result.err);
      if (fds[1].revents & (POLLHUP | POLLERR)) err_open = false;
    }
    if (killed && fds[0].revents == 0 && fds[1].revents == 0) break;  // a grandchild holds a pipe
  }
  close(out[0]);
  close(err[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) == pid) result.exit_code = DecodeWaitStatus(status);
  return result;
}

Process::Process(const Command& command) {
  if (command.argv.empty()) return;
  Prepared p = Prepare(command);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    ExecChild(command, p);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return;
  }
  pid_ = pid;
  fd_ = fds[0];
  fcntl(fd_, F_SETFL, O_NONBLOCK);
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

bool Process::ReadSome(std::chrono::milliseconds limit) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  const size_t before = output_.size();
  AppendAvailable(fd_, &output_);
  if (output_.size() == before && (p.revents & (POLLHUP | POLLERR))) {
    close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

std::optional<std::vector<std::string>> Process::WaitFor(const std::regex& pattern,
                                                         std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (true) {
    std::smatch m;
    if (std::regex_search(output_, m, pattern)) {
      std::vector<std::string> groups;
      for (const auto& g : m) groups.push_back(g.str());
      return groups;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!ReadSome(left) && fd_ < 0) return std::nullopt;  // the process closed its output
  }
}

std::string Process::output() {
  while (ReadSome(std::chrono::milliseconds(100))) {
  }
  return output_;
}

void Process::Signal(int signo) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signo);
}

std::optional<int> Process::Wait(std::chrono::milliseconds limit) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + limit;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = DecodeWaitStatus(status);
      return exit_code_;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    // Drain the pipe meanwhile so a chatty child never blocks on a full pipe.
    if (!ReadSome(std::chrono::milliseconds(10))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace sluice::testing
