// SHA-256 of files and buffers, through OpenSSL's libcrypto, as lower-case hex.

#ifndef FNHOST_SRC_COMMON_SHA256_H_
#define FNHOST_SRC_COMMON_SHA256_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

std::string Sha256Hex(std::string_view bytes);

// Streams the file (so a large module is not read into memory whole).
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

// The SHA-256 of `head` followed by the bytes of the open file `fd` from `offset` to its end
// (read with pread; the file position is left alone). `path` names the file in errors.
absl::StatusOr<std::string> Sha256HexOfHeadAndFile(std::string_view head, int fd,
                                                   uint64_t offset, const std::string& path);

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_SHA256_H_
