// SealedFile: a private copy of a module file in memory (a memfd), read once and sealed so
// that nothing can change it afterwards, not even its owner. The loader validates and dlopens
// this copy ("/proc/self/fd/N"), so that what was checked is exactly what runs, and no later
// write, truncation or replacement of the file on disk reaches the mapped code. Distinct copies
// are distinct inodes, so the dynamic loader treats each as a new object, even when the same
// file is already loaded (hot reload, canary).
//
// Unless the whole file is asked for, the copy holds only the part the dynamic loader reads
// (LoadedExtent: headers and segments), followed by a hole up to the file's size; debug
// information and the symbol table stay on disk. They are often most of the file, and copying
// them would cost time at every cold start and memory for as long as the module is loaded.
// Sha256() still hashes the whole file: the copied part, then the rest from the file as it was
// opened, provided it has not changed since.
//
// Thread-safety: immutable after Copy; safe to share between threads.

#ifndef FNHOST_SRC_LOADER_SEALED_FILE_H_
#define FNHOST_SRC_LOADER_SEALED_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

// What identifies one version of a file's contents without reading them: a rewrite, truncate,
// chmod, rename onto or link of the file moves its change time on.
struct FileKey {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileKey&) const = default;
};

class SealedFile {
 public:
  enum class Extent { kLoadedPart, kWholeFile };

  // Copies the regular file at `path` (or its loaded part) into a new sealed memfd. A missing
  // file is NOT_FOUND, a directory or device FAILED_PRECONDITION; messages name the file. A
  // FIFO does not block the open.
  static absl::StatusOr<std::unique_ptr<SealedFile>> Copy(const std::string& path,
                                                          Extent extent);
  ~SealedFile();

  SealedFile(const SealedFile&) = delete;
  SealedFile& operator=(const SealedFile&) = delete;

  // The bytes read into the copy, kept in memory until DropBytes (to be checked before the
  // copy is mapped): the first bytes of a file of file_size() bytes.
  std::string_view bytes() const { return bytes_; }
  void DropBytes() { std::string().swap(bytes_); }
  uint64_t size() const { return size_; }
  uint64_t file_size() const { return static_cast<uint64_t>(source_key_.size); }
  // A path that opens the copy ("/proc/self/fd/N"); valid while this object lives.
  const std::string& proc_path() const { return proc_path_; }
  // The file's key when it was opened, and whether it was the same after the copy: only then
  // do the bytes belong to that key (a writer could have changed the file in between).
  const FileKey& source_key() const { return source_key_; }
  bool source_unchanged() const { return source_unchanged_; }
  // The file's mode when it was opened (its permission bits, for CheckModuleMode).
  mode_t source_mode() const { return source_mode_; }

  // The SHA-256 of the whole file as it was copied (lower-case hex). FAILED_PRECONDITION if
  // the copy is partial and the file has changed since, or was let go: the rest of it is then
  // unknown.
  absl::StatusOr<std::string> Sha256() const;
  // Closes the file itself, which a partial copy keeps open for Sha256.
  void LetGoOfSource();

 private:
  SealedFile(std::string path, int fd, std::string bytes, int source, FileKey key, mode_t mode,
             bool unchanged);

  const std::string path_;
  const int fd_;
  std::string bytes_;
  const uint64_t size_;
  int source_;  // the file itself, open while the copy is partial; else -1
  const std::string proc_path_;
  const FileKey source_key_;
  const mode_t source_mode_;
  const bool source_unchanged_;
  bool let_go_ = false;  // a partial copy whose file was closed
};

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_SEALED_FILE_H_
