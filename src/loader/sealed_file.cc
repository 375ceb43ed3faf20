#include "src/loader/sealed_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/common/sha256.h"
#include "src/loader/elf_info.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace fnhost {
namespace {

// The copy lives in memory (shmem), so a module larger than any module would exhaust it.
constexpr uint64_t kMaxCopyBytes = uint64_t{1} << 30;

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

FileKey KeyOf(const struct stat& st) {
  return FileKey{.device = st.st_dev,
                 .inode = st.st_ino,
                 .size = st.st_size,
                 .mtime_ns = Nanos(st.st_mtim),
                 .ctime_ns = Nanos(st.st_ctim)};
}

// Since Linux 6.3 a memfd says whether it may be executed; older kernels reject the flag
// (EINVAL), and vm.memfd_noexec=2 rejects MFD_EXEC (EACCES). Mapping a non-executable memfd
// with PROT_EXEC is still allowed (the flag is about execve), so each fallback works for dlopen.
int CreateMemfd(const std::string& path) {
  const std::string name =
      absl::StrCat("fnhost:", std::filesystem::path(path).filename().string()).substr(0, 240);
  constexpr unsigned kFlags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  int fd = ::memfd_create(name.c_str(), kFlags | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = ::memfd_create(name.c_str(), kFlags);
  if (fd < 0 && (errno == EACCES || errno == EPERM)) {
    fd = ::memfd_create(name.c_str(), kFlags | MFD_NOEXEC_SEAL);
  }
  return fd;
}

// Copies up to `size` bytes; fewer if the file shrank meanwhile (the copy is then what was
// read, and the checks see exactly that).
absl::Status CopyBytes(int from, int to, uint64_t size, const std::string& path) {
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::sendfile(to, from, nullptr, std::min<uint64_t>(size - done, 1 << 30));
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) return absl::OkStatus();
    if (errno == EINTR) continue;
    if (errno != EINVAL && errno != ENOSYS) return ErrnoError(errno, "read", path);
    break;  // a file system without splice support: copy through a buffer
  }
  char buffer[1 << 16];
  while (done < size) {
    const ssize_t n = ::read(from, buffer, std::min<uint64_t>(size - done, sizeof(buffer)));
    if (n == 0) return absl::OkStatus();
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", path);
    }
    for (ssize_t written = 0; written < n;) {
      const ssize_t w = ::write(to, buffer + written, static_cast<size_t>(n - written));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError(errno, "copy into memory", path);
      written += w;
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SealedFile>> SealedFile::Copy(const std::string& path,
                                                            Extent extent) {
  // O_NONBLOCK so that a FIFO in place of a module cannot hang the open.
  const int source = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (source < 0) return ErrnoError(errno, "open", path);
  absl::Cleanup close_source = [source] { ::close(source); };
  struct stat before;
  if (::fstat(source, &before) != 0) return ErrnoError(errno, "stat", path);
  if (S_ISDIR(before.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is a directory, not a file"));
  }
  if (!S_ISREG(before.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  const uint64_t file_size = static_cast<uint64_t>(before.st_size);
  const uint64_t size =
      extent == Extent::kWholeFile ? file_size : LoadedExtent(source, file_size);
  if (size > kMaxCopyBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has ", size, " bytes to load, more than the ", kMaxCopyBytes, " allowed"));
  }

  const int fd = CreateMemfd(path);
  if (fd < 0) return ErrnoError(errno, "create an in-memory copy of", path);
  absl::Cleanup close_copy = [fd] { ::close(fd); };
  if (absl::Status s = CopyBytes(source, fd, size, path); !s.ok()) return s;
  constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  if (::fcntl(fd, F_ADD_SEALS, kSeals) != 0) return ErrnoError(errno, "seal the copy of", path);
  struct stat after;
  struct stat copy;
  if (::fstat(source, &after) != 0) return ErrnoError(errno, "stat", path);
  if (::fstat(fd, &copy) != 0) return ErrnoError(errno, "stat the copy of", path);

  void* data = nullptr;
  const size_t copied = static_cast<size_t>(copy.st_size);
  if (copied > 0) {
    data = ::mmap(nullptr, copied, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) return ErrnoError(errno, "map the copy of", path);
  }
  std::move(close_copy).Cancel();
  const bool unchanged = KeyOf(before) == KeyOf(after) && copied == size;
  const bool partial = copied < file_size;
  if (partial) std::move(close_source).Cancel();
  return std::unique_ptr<SealedFile>(new SealedFile(
      path, fd, data, copied, partial ? source : -1, KeyOf(before), unchanged));
}

SealedFile::SealedFile(std::string path, int fd, void* data, size_t size, int source,
                       FileKey key, bool unchanged)
    : path_(std::move(path)),
      fd_(fd),
      data_(data),
      size_(size),
      source_(source),
      proc_path_(absl::StrCat("/proc/self/fd/", fd)),
      source_key_(key),
      source_unchanged_(unchanged) {}

SealedFile::~SealedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
  ::close(fd_);
  if (source_ >= 0) ::close(source_);
}

absl::StatusOr<std::string> SealedFile::Sha256() const {
  if (source_ < 0) return Sha256Hex(bytes());
  auto changed = [this] {
    struct stat now;
    return !source_unchanged_ || ::fstat(source_, &now) != 0 || KeyOf(now) != source_key_;
  };
  if (!changed()) {
    absl::StatusOr<std::string> digest = Sha256HexOfHeadAndFile(bytes(), source_, size_, path_);
    if (!digest.ok() || !changed()) return digest;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path_, " changed on disk since it was loaded, so the SHA-256 of the loaded version is "
             "unknown"));
}

}  // namespace fnhost
