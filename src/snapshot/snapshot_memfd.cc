#include "src/snapshot/snapshot_memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"

namespace fnhost {
namespace {

constexpr unsigned kSeals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

}  // namespace

absl::StatusOr<int> CommitToSealedMemfd(SnapshotFileWriter& writer, const std::string& name) {
  const int fd = ::memfd_create("fnhost-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoError(errno, "memfd_create for snapshot", name);
  const int for_writing = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (for_writing < 0) {
    absl::Status status = ErrnoError(errno, "dup of the memfd of snapshot", name);
    ::close(fd);
    return status;
  }
  std::unique_ptr<WritableFile> file = WritableFileForDescriptor(for_writing, name);
  absl::Status status = writer.CommitTo(file.get());
  absl::Status closed = file->Close();
  if (status.ok()) status = closed;
  // Written with write(2) only, so no writable mapping stands in the way of F_SEAL_WRITE.
  if (status.ok() && ::fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    status = ErrnoError(errno, "sealing the memfd of snapshot", name);
  }
  if (!status.ok()) {
    ::close(fd);
    return status;
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenSealedMemfd(
    int fd, const std::string& name, const snapshot::ModuleIdentity& expected) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & kSeals) != kSeals) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", name, " is not a sealed memfd, so it could change under its "
                                        "readers"));
  }
  return MappedSnapshot::OpenDescriptor(fd, name, expected, SectionVerification::kTrust);
}

}  // namespace fnhost
