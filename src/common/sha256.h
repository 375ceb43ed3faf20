// SHA-256 of files and buffers, through OpenSSL's libcrypto, as lower-case hex.

#ifndef FNHOST_SRC_COMMON_SHA256_H_
#define FNHOST_SRC_COMMON_SHA256_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

std::string Sha256Hex(std::string_view bytes);

// Streams the file (so a large module is not read into memory whole).
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_SHA256_H_
