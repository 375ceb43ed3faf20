#include "src/common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "src/common/file_system.h"

namespace fnhost {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string Finish(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context, digest, &size);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  DigestContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
  return Finish(context.get());
}

absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  absl::Cleanup closer = [fd] { ::close(fd); };
  return Sha256HexOfHeadAndFile({}, fd, 0, path);
}

absl::StatusOr<std::string> Sha256HexOfHeadAndFile(std::string_view head, int fd,
                                                   uint64_t offset, const std::string& path) {
  DigestContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(context.get(), head.data(), head.size());
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd, buffer, sizeof(buffer), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", path);
    }
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), buffer, static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Finish(context.get());
}

}  // namespace fnhost
