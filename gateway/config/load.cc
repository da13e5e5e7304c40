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

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes) {
  // Opened first and checked through the descriptor, so the file checked is the file read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot read file: ", std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read file: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        S_ISDIR(st.st_mode) ? std::string("is a directory, not a file")
                            : std::string("not a regular file (a device, pipe or socket)"));
  }
  auto too_big = [&](const std::string& what) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, "; the limit is ", max_bytes, " (", max_bytes >> 20, " MiB)"));
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return too_big(absl::StrCat("file is ", st.st_size, " bytes"));
  }
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  // The file may grow while it is read: read at most the limit plus one byte to notice.
  while (got < max_bytes + 1) {
    if (got == bytes.size()) bytes.resize(std::min<size_t>(max_bytes + 1, got + 65536));
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return absl::UnavailableError(absl::StrCat("cannot read file: ", std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) return too_big("file is larger than that");
  bytes.resize(got);
  return bytes;
}

LoadResult LoadConfigFile(const std::string& file_path, EnvLookup env, ComponentParser components) {
  absl::StatusOr<std::string> bytes = ReadRegularFile(file_path, kMaxConfigFileBytes);
  if (!bytes.ok()) {
    LoadResult result;
    result.errors.push_back({"", std::string(bytes.status().message())});
    return result;
  }
  return ParseConfig(*bytes, file_path, env, components);
}

}  // namespace sluice::config
