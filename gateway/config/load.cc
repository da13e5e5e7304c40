// Reading a config file: opened once, checked through its descriptor (a regular file within
// kMaxConfigFileBytes), read whole, then parsed.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"

namespace sluice::config {

LoadResult LoadConfigFile(const std::string& file_path, EnvLookup env, ComponentParser components) {
  auto fail = [](std::string message) {
    LoadResult result;
    result.errors.push_back({"", std::move(message)});
    return result;
  };
  // Opened first and checked through the descriptor, so the file checked is the file read.
  const int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(absl::StrCat("cannot read file: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(absl::StrCat("cannot read file: ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode)
                    ? std::string("is a directory, not a configuration file")
                    : std::string("not a regular file (a device, pipe or socket cannot be a "
                                  "configuration file)"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    ::close(fd);
    return fail(absl::StrCat("file is ", st.st_size, " bytes; the limit is ", kMaxConfigFileBytes,
                             " (", kMaxConfigFileBytes >> 20, " MiB)"));
  }
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  // The file may grow while it is read: read at most the limit plus one byte to notice.
  while (got < kMaxConfigFileBytes + 1) {
    if (got == bytes.size()) bytes.resize(std::min<size_t>(kMaxConfigFileBytes + 1, got + 65536));
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(absl::StrCat("cannot read file: ", std::strerror(err)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxConfigFileBytes) {
    return fail(absl::StrCat("file is larger than the limit of ", kMaxConfigFileBytes, " bytes (",
                             kMaxConfigFileBytes >> 20, " MiB)"));
  }
  bytes.resize(got);
  return ParseConfig(bytes, file_path, env, components);
}

}  // namespace sluice::config
