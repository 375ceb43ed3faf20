#include "src/common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
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
  Sha256Hasher hasher;
  if (absl::Status s = hasher.UpdateFromFile(fd, 0, path); !s.ok()) return s;
  return hasher.HexDigest();
}

struct Sha256Hasher::Context {
  DigestContext digest{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256Hasher::Sha256Hasher() : context_(std::make_unique<Context>()) {
  EVP_DigestInit_ex(context_->digest.get(), EVP_sha256(), nullptr);
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view bytes) {
  EVP_DigestUpdate(context_->digest.get(), bytes.data(), bytes.size());
}

absl::Status Sha256Hasher::UpdateFromFile(int fd, uint64_t offset, const std::string& path,
                                          uint64_t end) {
  char buffer[1 << 16];
  while (offset < end) {
    ssize_t n = ::pread(fd, buffer, std::min<uint64_t>(sizeof(buffer), end - offset),
                        static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", path);
    }
    if (n == 0) return absl::OkStatus();
    Update({buffer, static_cast<size_t>(n)});
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

std::string Sha256Hasher::HexDigest() { return Finish(context_->digest.get()); }

}  // namespace fnhost
