#include "src/sandbox/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/sandbox/files.h"

// Debian 12's linux/landlock.h stops at ABI 3's names; newer ones come from the kernel's UAPI.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

namespace fnhost::sandbox {
namespace {

// struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix of it (by size).
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI >= 4
  uint64_t scoped;              // ABI >= 6
};

constexpr uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// The rights a rule on a regular file may carry (others only make sense on directories).
constexpr uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                 LANDLOCK_ACCESS_FS_IOCTL_DEV;
// Devices, FIFOs and sockets cannot be made even in write_paths, nor files executed.
constexpr uint64_t kWrite = kRead | LANDLOCK_ACCESS_FS_WRITE_FILE |
                            LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                            LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                            LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |
                            LANDLOCK_ACCESS_FS_TRUNCATE;

uint64_t FileSystemRights(int abi) {
  uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return rights;
}

size_t RulesetAttrSize(int abi) {
  if (abi >= 6) return sizeof(RulesetAttr);
  if (abi >= 4) return offsetof(RulesetAttr, scoped);
  return offsetof(RulesetAttr, handled_access_net);
}

absl::Status AddPathRule(int ruleset, const std::string& path, uint64_t rights) {
  int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "Landlock rule: open", path);
  struct stat st;
  if (::fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd;
  absl::Status status;
  if (rights != 0 &&
      ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    status = ErrnoStatus(errno, "Landlock rule: landlock_add_rule", path);
  }
  ::close(fd);
  return status;
}

}  // namespace

int LandlockAbi(std::string* reason) {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi > 0) return static_cast<int>(abi);
  if (reason != nullptr) {
    *reason = errno == ENOSYS     ? "the kernel has no Landlock (built without it)"
              : errno == EOPNOTSUPP ? "Landlock is disabled (not in the kernel's lsm= list)"
                                    : absl::StrCat("landlock_create_ruleset: ", strerror(errno));
  }
  return 0;
}

absl::StatusOr<LandlockRuleset> LandlockRuleset::Create(const LandlockRules& rules) {
  LandlockResult result;
  std::string reason;
  result.abi = LandlockAbi(&reason);
  if (result.abi == 0) return absl::FailedPreconditionError(reason);
  uint64_t handled = FileSystemRights(result.abi);
  if (!rules.restrict_reads) handled &= ~kRead;
  RulesetAttr attr{handled, 0, 0};
  if (rules.deny_tcp && result.abi >= 4) {
    attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
    result.tcp_denied = true;
  }
  if (result.abi >= 6) {
    attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    result.scoped = true;
  }
  int fd = static_cast<int>(
      ::syscall(SYS_landlock_create_ruleset, &attr, RulesetAttrSize(result.abi), 0));
  if (fd < 0) return ErrnoStatus(errno, "landlock_create_ruleset", "");
  LandlockRuleset ruleset(fd, result);
  for (const std::string& path : rules.read_paths) {
    if (absl::Status status = AddPathRule(fd, path, kRead & handled); !status.ok()) {
      return status;
    }
  }
  for (const std::string& path : rules.write_paths) {
    if (absl::Status status = AddPathRule(fd, path, kWrite & handled); !status.ok()) {
      return status;
    }
  }
  return ruleset;
}

LandlockRuleset::LandlockRuleset(LandlockRuleset&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), result_(other.result_) {}

LandlockRuleset& LandlockRuleset::operator=(LandlockRuleset&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    result_ = other.result_;
  }
  return *this;
}

LandlockRuleset::~LandlockRuleset() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status LandlockRuleset::RestrictSelf() {
  if (fd_ < 0) return absl::FailedPreconditionError("Landlock ruleset already used here");
  absl::Status status;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    status = ErrnoStatus(errno, "prctl(PR_SET_NO_NEW_PRIVS)", "");
  } else if (::syscall(SYS_landlock_restrict_self, fd_, 0) != 0) {
    status = ErrnoStatus(errno, "landlock_restrict_self", "");
  }
  ::close(std::exchange(fd_, -1));
  return status;
}

}  // namespace fnhost::sandbox
