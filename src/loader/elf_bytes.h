// ElfBytes: the bytes of one ELF file under inspection, with bounds-checked reads and the two
// kinds of refusal (damaged file, or sound file that cannot be a module here). Shared by the
// parser (elf_info.cc) and the load checks (elf_validate.cc). The bytes are untrusted: every
// offset read from them goes through Contains() before anything is read at it.
// A value type over borrowed bytes; thread-compatible.

#ifndef FNHOST_SRC_LOADER_ELF_BYTES_H_
#define FNHOST_SRC_LOADER_ELF_BYTES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fnhost {

class ElfBytes {
 public:
  // `bytes` are the first bytes of the file at `path`, which has `file_size` bytes.
  ElfBytes(std::string_view bytes, uint64_t file_size, const std::string& path)
      : bytes_(bytes), file_size_(file_size), path_(path) {}

  std::string_view bytes() const { return bytes_; }
  // The bytes at hand; every read is of these.
  uint64_t size() const { return bytes_.size(); }
  // The whole file's size, which may be more (only the loaded part of a module is copied).
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

  // True if [offset, offset + size) lies inside the file.
  bool Contains(uint64_t offset, uint64_t size) const {
    return offset <= bytes_.size() && size <= bytes_.size() - offset;
  }
  // Copies a T from `offset`, which Contains(offset, sizeof(T)); memcpy because the bytes
  // need not be aligned.
  template <typename T>
  T ReadAt(uint64_t offset) const {
    T value;
    std::memcpy(&value, bytes_.data() + offset, sizeof(T));
    return value;
  }

  // The file is damaged or is not ELF: INVALID_ARGUMENT, "<path>: <cause>".
  absl::Status Malformed(absl::string_view cause) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", cause));
  }
  // The file is sound ELF but cannot be a module of this process: FAILED_PRECONDITION.
  absl::Status Unusable(absl::string_view cause) const {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": ", cause));
  }

 private:
  std::string_view bytes_;
  uint64_t file_size_;
  const std::string& path_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_BYTES_H_
