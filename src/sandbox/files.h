// Small-file helpers for the kernel's control files (/proc, /sys/fs/cgroup): one read or one
// write per call, errors as absl::Status naming the path and the errno.
// Thread-safety: stateless.

#ifndef FNHOST_SRC_SANDBOX_FILES_H_
#define FNHOST_SRC_SANDBOX_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost::sandbox {

// An errno as a Status: "<what> <path>: <strerror>".
absl::Status ErrnoStatus(int errno_value, std::string_view what, std::string_view path);

// The whole file (control files are small: up to 64 KiB is read).
absl::StatusOr<std::string> ReadControlFile(const std::string& path);

// The same from an open descriptor, read from offset 0 (`what` names it in errors).
absl::StatusOr<std::string> ReadFromDescriptor(int fd, std::string_view what);

// Writes `text` in one write(2), as the kernel's control files expect.
absl::Status WriteControlFile(const std::string& path, std::string_view text);

// Writes `text` in one write(2) to an open descriptor (`what` names it in errors).
absl::Status WriteToDescriptor(int fd, std::string_view text, std::string_view what);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_FILES_H_
