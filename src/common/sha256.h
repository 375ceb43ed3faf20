// SHA-256 of files and buffers, through OpenSSL's libcrypto, as lower-case hex.

#ifndef FNHOST_SRC_COMMON_SHA256_H_
#define FNHOST_SRC_COMMON_SHA256_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

std::string Sha256Hex(std::string_view bytes);

// Streams the file (so a large module is not read into memory whole).
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

// A SHA-256 fed in pieces: bytes in memory and ranges of open files.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view bytes);
  // Adds the bytes of `fd` from `offset` to `end` or its end, whichever comes first (read with
  // pread; the file position is left alone). `path` names the file in errors.
  absl::Status UpdateFromFile(int fd, uint64_t offset, const std::string& path,
                              uint64_t end = UINT64_MAX);
  // Lower-case hex of the digest; the hasher is spent.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_SHA256_H_
