#include "src/loader/sealed_file.h"

#include <fcntl.h>
#include <sys/mman.h>  // memfd_create
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

// The copy lives in memory (shmem): a file that claims more than any real module has to load
// would exhaust it.
constexpr uint64_t kMaxCopyBytes = uint64_t{1} << 30;
// Enough for the ELF header and the program header table of any module a linker writes, and
// for the whole loaded part of a small module, which then takes a single read.
constexpr uint64_t kHeadBytes = 16384;

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

// Reads up to `size` bytes from `offset` into `into`; fewer if the file ends first (it may
// shrink while it is read: the copy is then what was read, and the checks see exactly that).
absl::Status ReadUpTo(int fd, uint64_t offset, uint64_t size, std::string& into,
                      const std::string& path) {
  const size_t start = into.size();
  into.resize(start + size);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, into.data() + start + done, size - done,
                              static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read", path);
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  into.resize(start + done);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "copy into memory", path);
    bytes.remove_prefix(static_cast<size_t>(n));
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
    return absl::FailedPreconditionError(
        absl::StrCat("module ", path, " is a directory, not a file"));
  }
  if (!S_ISREG(before.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("module ", path, " is not a regular file"));
  }
  const uint64_t file_size = static_cast<uint64_t>(before.st_size);
  // The headers first, which say how much of the file the dynamic loader reads.
  std::string bytes;
  if (absl::Status s = ReadUpTo(source, 0, std::min(file_size, kHeadBytes), bytes, path);
      !s.ok()) {
    return s;
  }
  const uint64_t size =
      extent == Extent::kWholeFile ? file_size : LoadedExtent(bytes, file_size);
  if (size > kMaxCopyBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has ", size, " bytes to load, more than the ", kMaxCopyBytes, " allowed"));
  }
  if (size > bytes.size()) {
    if (absl::Status s = ReadUpTo(source, bytes.size(), size - bytes.size(), bytes, path);
        !s.ok()) {
      return s;
    }
  } else {
    bytes.resize(size);
  }

  const int fd = CreateMemfd(path);
  if (fd < 0) return ErrnoError(errno, "create an in-memory copy of", path);
  absl::Cleanup close_copy = [fd] { ::close(fd); };
  if (absl::Status s = WriteAll(fd, bytes, path); !s.ok()) return s;
  // A partial copy keeps the file's size, the rest a hole that reads as zeros and takes no
  // memory: tools that read the object's ELF file by its name (the sanitizers' symbolizers,
  // debuggers) find the section headers where the header says, not past the end of the file.
  if (bytes.size() < file_size && ::ftruncate(fd, static_cast<off_t>(file_size)) != 0) {
    return ErrnoError(errno, "size the copy of", path);
  }
  constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  if (::fcntl(fd, F_ADD_SEALS, kSeals) != 0) return ErrnoError(errno, "seal the copy of", path);
  struct stat after;
  if (::fstat(source, &after) != 0) return ErrnoError(errno, "stat", path);
  std::move(close_copy).Cancel();
  const bool unchanged = KeyOf(before) == KeyOf(after) && bytes.size() == size;
  const bool partial = bytes.size() < file_size;
  if (partial) std::move(close_source).Cancel();
  return std::unique_ptr<SealedFile>(new SealedFile(path, fd, std::move(bytes),
                                                    partial ? source : -1, KeyOf(before),
                                                    before.st_mode, unchanged));
}

SealedFile::SealedFile(std::string path, int fd, std::string bytes, int source, FileKey key,
                       mode_t mode, bool unchanged)
    : path_(std::move(path)),
      fd_(fd),
      bytes_(std::move(bytes)),
      size_(bytes_.size()),
      source_(source),
      proc_path_(absl::StrCat("/proc/self/fd/", fd)),
      source_key_(key),
      source_mode_(mode),
      source_unchanged_(unchanged) {}

SealedFile::~SealedFile() {
  ::close(fd_);
  if (source_ >= 0) ::close(source_);
}

void SealedFile::LetGoOfSource() {
  if (source_ >= 0) ::close(source_);
  source_ = -1;
  let_go_ = size_ < file_size();
}

absl::StatusOr<std::string> SealedFile::Sha256() const {
  auto changed = [this] {
    struct stat now;
    return let_go_ || (source_ >= 0 && (!source_unchanged_ || ::fstat(source_, &now) != 0 ||
                                        KeyOf(now) != source_key_));
  };
  if (!changed()) {
    Sha256Hasher hasher;
    absl::Status status = hasher.UpdateFromFile(fd_, 0, path_, size_);
    if (status.ok() && source_ >= 0) status = hasher.UpdateFromFile(source_, size_, path_);
    if (!status.ok()) return status;
    if (!changed()) return hasher.HexDigest();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path_, " changed on disk since it was loaded, so the SHA-256 of the loaded version is "
             "unknown"));
}

}  // namespace fnhost
