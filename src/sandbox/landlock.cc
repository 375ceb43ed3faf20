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

// Opens `path` for a rule; a rule on a file keeps only the rights a file can have.
absl::Status OpenForRule(const std::string& path, int* fd, uint64_t* rights) {
  *fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (*fd < 0) return ErrnoStatus(errno, "Landlock rule: open", path);
  struct stat st;
  if (::fstat(*fd, &st) == 0 && !S_ISDIR(st.st_mode)) *rights &= kFileRights;
  return absl::OkStatus();
}

absl::Status AddRule(int ruleset, int fd, uint64_t rights, const std::string& path) {
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd;
  if (rights != 0 &&
      ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return ErrnoStatus(errno, "Landlock rule: landlock_add_rule", path);
  }
  return absl::OkStatus();
}

bool NamesTheCallingProcess(const std::string& path) {
  return path == "/proc/self" || path.rfind("/proc/self/", 0) == 0;
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
  LandlockRuleset ruleset;
  std::string reason;
  LandlockResult& result = ruleset.result_;
  result.abi = LandlockAbi(&reason);
  if (result.abi == 0) return absl::FailedPreconditionError(reason);
  ruleset.handled_fs_ = FileSystemRights(result.abi);
  if (!rules.restrict_reads) ruleset.handled_fs_ &= ~kRead;
  if (rules.deny_tcp && result.abi >= 4) {
    ruleset.handled_net_ = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
    result.tcp_denied = true;
  }
  if (result.abi >= 6) {
    ruleset.scoped_ = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    result.scoped = true;
  }
  auto add = [&](const std::string& path, uint64_t rights) -> absl::Status {
    Rule rule{path, rights & ruleset.handled_fs_};
    if (!NamesTheCallingProcess(path)) {
      if (absl::Status status = OpenForRule(path, &rule.fd, &rule.rights); !status.ok()) {
        return status;
      }
    }
    ruleset.rules_.push_back(std::move(rule));
    return absl::OkStatus();
  };
  for (const std::string& path : rules.read_paths) {
    if (absl::Status status = add(path, kRead); !status.ok()) return status;
  }
  for (const std::string& path : rules.write_paths) {
    if (absl::Status status = add(path, kWrite); !status.ok()) return status;
  }
  return ruleset;
}

LandlockRuleset::LandlockRuleset(LandlockRuleset&& other) noexcept { *this = std::move(other); }

LandlockRuleset& LandlockRuleset::operator=(LandlockRuleset&& other) noexcept {
  if (this != &other) {
    CloseDescriptors();
    handled_fs_ = other.handled_fs_;
    handled_net_ = other.handled_net_;
    scoped_ = other.scoped_;
    rules_ = std::exchange(other.rules_, {});
    result_ = other.result_;
  }
  return *this;
}

LandlockRuleset::~LandlockRuleset() { CloseDescriptors(); }

void LandlockRuleset::CloseDescriptors() {
  for (Rule& rule : rules_) {
    if (rule.fd >= 0) ::close(std::exchange(rule.fd, -1));
  }
}

absl::Status LandlockRuleset::RestrictSelf() {
  RulesetAttr attr{handled_fs_, handled_net_, scoped_};
  int ruleset = static_cast<int>(
      ::syscall(SYS_landlock_create_ruleset, &attr, RulesetAttrSize(result_.abi), 0));
  absl::Status status =
      ruleset < 0 ? ErrnoStatus(errno, "landlock_create_ruleset", "") : absl::OkStatus();
  for (Rule& rule : rules_) {
    if (!status.ok()) break;
    if (rule.fd >= 0) {
      status = AddRule(ruleset, rule.fd, rule.rights, rule.path);
      continue;
    }
    int fd = -1;
    uint64_t rights = rule.rights;
    status = OpenForRule(rule.path, &fd, &rights);
    if (status.ok()) status = AddRule(ruleset, fd, rights, rule.path);
    if (fd >= 0) ::close(fd);
  }
  if (status.ok() && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    status = ErrnoStatus(errno, "prctl(PR_SET_NO_NEW_PRIVS)", "");
  }
  if (status.ok() && ::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    status = ErrnoStatus(errno, "landlock_restrict_self", "");
  }
  if (ruleset >= 0) ::close(ruleset);
  CloseDescriptors();
  return status;
}

}  // namespace fnhost::sandbox
