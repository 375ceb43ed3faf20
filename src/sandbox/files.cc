#include "src/sandbox/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::sandbox {

absl::Status ErrnoStatus(int errno_value, std::string_view what, std::string_view path) {
  return absl::ErrnoToStatus(errno_value,
                             path.empty() ? std::string(what) : absl::StrCat(AsAbsl(what), " ", AsAbsl(path)));
}

absl::StatusOr<std::string> ReadControlFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  absl::StatusOr<std::string> text = ReadFromDescriptor(fd, path);
  ::close(fd);
  return text;
}

absl::StatusOr<std::string> ReadFromDescriptor(int fd, std::string_view what) {
  constexpr size_t kMaxBytes = 64 * 1024;
  // Most are a line or two, and the zygote reads several at each worker's reap: a 64 KiB
  // buffer zeroed for each showed in its profile.
  std::string text;
  char chunk[4096];
  while (text.size() < kMaxBytes) {
    // By offset, not the file position: a held descriptor is read again at each reap, and a
    // read at offset 0 makes the kernel produce the file afresh.
    ssize_t n = ::pread(fd, chunk, std::min(sizeof(chunk), kMaxBytes - text.size()),
                        static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read", what);
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  return text;
}

absl::Status WriteToDescriptor(int fd, std::string_view text, std::string_view what) {
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "write", what);
  if (static_cast<size_t>(n) != text.size()) {
    return absl::InternalError(absl::StrCat("short write to ", AsAbsl(what)));
  }
  return absl::OkStatus();
}

absl::Status WriteControlFile(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  absl::Status status = WriteToDescriptor(fd, text, path);
  ::close(fd);
  return status;
}

}  // namespace fnhost::sandbox
