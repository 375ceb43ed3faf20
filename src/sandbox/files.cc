#include "src/sandbox/files.h"

#include <fcntl.h>
#include <unistd.h>

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
  std::string text(64 * 1024, '\0');
  size_t size = 0;
  for (;;) {
    ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "read", path);
    }
    size += static_cast<size_t>(n);
    if (n == 0 || size == text.size()) break;
  }
  ::close(fd);
  text.resize(size);
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
