// FileSystem: the file operations fnhost performs, behind an interface so that tests can
// inject failures (a full disk, an unreadable directory) without root or special mounts.
// Every error is an absl::Status that names the path and the OS's reason.
// Thread-safety: implementations are thread-safe.

#ifndef FNHOST_SRC_COMMON_FILE_SYSTEM_H_
#define FNHOST_SRC_COMMON_FILE_SYSTEM_H_

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost {

// A file being written; Close() must be called to learn whether the bytes reached the disk.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(std::string_view data) = 0;
  // Appends `size` zero bytes (padding between page-aligned sections).
  virtual absl::Status AppendZeros(uint64_t size) = 0;
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual absl::StatusOr<struct stat> Stat(const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Creates (truncating) a file readable and writable only by its owner.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // rename(2): atomic replacement within one file system.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // Creates a directory and its parents.
  virtual absl::Status CreateDirectories(const std::string& path) = 0;
  // fsync of a directory, so that a rename inside it is durable.
  virtual absl::Status SyncDirectory(const std::string& path) = 0;

  // The process-wide POSIX implementation.
  static FileSystem* Default();
};

// A WritableFile that appends to the open descriptor `fd`, which it takes over (Close and the
// destructor close it); `name` stands for the file in messages.
std::unique_ptr<WritableFile> WritableFileForDescriptor(int fd, std::string name);

// An absl::Status for a failed system call: "<what> <path>: <strerror(errno_value)>", with a
// code that follows errno (NOT_FOUND for ENOENT, PERMISSION_DENIED for EACCES, ...).
absl::Status ErrnoError(int errno_value, std::string_view what, std::string_view path);

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_FILE_SYSTEM_H_
