#pragma once

// Child processes for the deployment tests: commands run to completion (umoci, skopeo, the image
// builder, tools/bluegreen) and long-running ones (HAProxy, Sluice inside the image's root
// filesystem). Every process is started here and only ever signalled by the PID this code got
// from fork().

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace sluice::testing {

struct Command {
  // argv[0] is the path executed (no PATH lookup).
  std::vector<std::string> argv;
  // Added to (and overriding) the test's environment, or the whole environment if `clear_env`.
  std::vector<std::string> env;
  bool clear_env = false;
  // If set: chroot into this directory, then chdir to `cwd` (or "/") inside it.
  std::string root;
  std::string cwd;
  // If set: drop to this user and group (and no supplementary groups) before exec.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // If >= 0: this descriptor (e.g. a listening socket) is passed to the child as fd 3.
  int pass_fd = -1;
};

struct Completed {
  int exit_code = -1000;  // exit status, -signal if killed, -1000 if it could not run
  std::string out;
  std::string err;
};

// Runs `command` to completion, killing it (SIGKILL) after `limit`.
Completed RunToEnd(const Command& command,
                   std::chrono::milliseconds limit = std::chrono::seconds(60));
// The same for a plain argv in the test's environment.
Completed RunToEnd(std::vector<std::string> argv,
                   std::chrono::milliseconds limit = std::chrono::seconds(60));

// A background child; stdout and stderr are read through one pipe. Killed (SIGKILL) and reaped
// on destruction if still running.
class Process {
 public:
  explicit Process(const Command& command);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // Reads output until `pattern` matches somewhere in it or `limit` passes; returns the match's
  // capture groups (group 0 first), or nullopt.
  std::optional<std::vector<std::string>> WaitFor(const std::regex& pattern,
                                                  std::chrono::milliseconds limit);
  // Everything read so far, after reading what is available for up to 100 ms.
  std::string output();

  // Sends `signo` (no-op once reaped).
  void Signal(int signo);
  // Waits for exit up to `limit`: exit status, -signal, or nullopt if still running.
  std::optional<int> Wait(std::chrono::milliseconds limit);

 private:
  bool ReadSome(std::chrono::milliseconds limit);
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
  std::optional<int> exit_code_;
};

// Exit status as RunToEnd and Process::Wait report it.
int DecodeWaitStatus(int status);

// The whole file, or nullopt if unreadable.
std::optional<std::string> ReadFile(const std::string& path);

}  // namespace sluice::testing
