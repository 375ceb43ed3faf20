#include "src/sandbox/process_limits.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/sandbox/files.h"

namespace fnhost::sandbox {

namespace {

// unshare(2) with CLONE_NEWUSER among `flags`, then the same ids inside as outside, so that the
// module sees its real uid, not the overflow id.
absl::Status UnshareWithUserNamespace(int flags, const char* what) {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(flags) != 0) return ErrnoStatus(errno, what, "");
  absl::Status status = WriteControlFile("/proc/self/setgroups", "deny");
  if (status.ok()) {
    status = WriteControlFile("/proc/self/uid_map", absl::StrCat(uid, " ", uid, " 1"));
  }
  if (status.ok()) {
    status = WriteControlFile("/proc/self/gid_map", absl::StrCat(gid, " ", gid, " 1"));
  }
  return status;
}

}  // namespace

absl::Status EnterPrivateNetwork(bool in_user_namespace) {
  if (in_user_namespace) {
    return UnshareWithUserNamespace(CLONE_NEWUSER | CLONE_NEWNET,
                                    "unshare(CLONE_NEWUSER | CLONE_NEWNET)");
  }
  if (::unshare(CLONE_NEWNET) != 0) return ErrnoStatus(errno, "unshare(CLONE_NEWNET)", "");
  return absl::OkStatus();
}

absl::Status EnterUserNamespace() {
  return UnshareWithUserNamespace(CLONE_NEWUSER, "unshare(CLONE_NEWUSER)");
}

absl::Status SetHardLimit(int resource, uint64_t limit, const char* name) {
  rlimit value{limit, limit};
  if (::setrlimit(resource, &value) != 0) {
    return ErrnoStatus(errno, absl::StrCat("setrlimit(", name, ", ", limit, ")"), "");
  }
  return absl::OkStatus();
}

uint64_t AddressSpaceBytes() {
  absl::StatusOr<std::string> statm = ReadControlFile("/proc/self/statm");
  uint64_t pages = 0;
  if (statm.ok()) {
    absl::string_view first = *absl::StrSplit(*statm, ' ').begin();
    if (!absl::SimpleAtoi(first, &pages)) pages = 0;
  }
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

void DropBoundingSet() {
  // Needs CAP_SETPCAP, which only a privileged process has (an unprivileged one has nothing
  // an exec could regain). Ends at the first capability the kernel does not know.
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
  }
}

absl::Status DropCapabilities() {
  // Once dropped (by the zygote, for all its workers), one read says so.
  if (::prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) == 1) DropBoundingSet();
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return ErrnoStatus(errno, "capset", "");
  return absl::OkStatus();
}

}  // namespace fnhost::sandbox
