// ProbeSandbox: tries each kernel feature the sandbox uses (see sandbox_support.h).

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/cpu_clock.h"
#include "src/sandbox/landlock.h"
#include "src/sandbox/sandbox_support.h"

namespace fnhost::sandbox {
namespace {

Feature Usable() { return Feature{true, ""}; }
Feature Unusable(std::string reason) { return Feature{false, std::move(reason)}; }

bool ActionAvailable(uint32_t action) {
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

Feature ProbeSeccomp() {
  if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
    return Unusable(absl::StrCat("the kernel has no seccomp (prctl(PR_GET_SECCOMP): ",
                                 std::strerror(errno), ")"));
  }
  for (uint32_t action : {SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS}) {
    if (!ActionAvailable(action)) {
      return Unusable(absl::StrCat("seccomp action 0x", absl::Hex(action),
                                   " is not available: ", std::strerror(errno)));
    }
  }
  return Usable();
}

Feature ProbeUserNotif() {
  if (!ActionAvailable(SECCOMP_RET_USER_NOTIF)) {
    return Unusable(absl::StrCat("SECCOMP_RET_USER_NOTIF: ", std::strerror(errno)));
  }
  if (::seccomp_api_get() < 5) {
    return Unusable(absl::StrCat("libseccomp API level ", ::seccomp_api_get(),
                                 " has no notification support (needs 5)"));
  }
  return Usable();
}

// Runs `child` in a forked child that makes raw system calls only, and returns its exit
// status (or -1). Safe in a multithreaded process.
template <typename Child>
int InChild(Child child) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(child());
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ProbeNetworkNamespace(SandboxSupport* support) {
  // 0: a network namespace alone; 1: within a user namespace; else 10 + the errno.
  int result = InChild([] {
    if (::unshare(CLONE_NEWNET) == 0) return 0;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) return 1;
    return 10 + errno;
  });
  if (result == 0 || result == 1) {
    support->network_namespace = Usable();
    support->network_namespace_needs_user_namespace = result == 1;
  } else {
    support->network_namespace = Unusable(absl::StrCat(
        "unshare(CLONE_NEWUSER | CLONE_NEWNET): ",
        result >= 10 ? std::strerror(result - 10) : "the probe process failed",
        " (unprivileged user namespaces may be disabled: kernel.unprivileged_userns_clone, "
        "user.max_user_namespaces)"));
  }
}

Feature ProbeProcessCpuClock() {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return Unusable(absl::StrCat("pipe: ", std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid == 0) {
    char byte;
    ::close(pipe_fds[1]);
    ::_exit(::read(pipe_fds[0], &byte, 1) < 0 ? 1 : 0);  // until the parent lets go
  }
  ::close(pipe_fds[0]);
  Feature feature = Unusable(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid > 0) {
    absl::StatusOr<ProcessCpuClock> clock = ProcessCpuClock::ForProcess(pid);
    absl::StatusOr<absl::Duration> now = clock.ok() ? clock->Now() : clock.status();
    feature = now.ok() ? Usable() : Unusable(std::string(now.status().message()));
  }
  ::close(pipe_fds[1]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return feature;
}

std::string Line(absl::string_view name, const Feature& feature, absl::string_view detail = "") {
  return absl::StrCat(name, ": ", feature.usable ? "yes" : "no", detail,
                      feature.usable ? "" : absl::StrCat(" (", feature.reason, ")"), "\n");
}

std::string CgroupDetail(const CgroupController& controller) {
  if (controller.version == 0) return "";
  return absl::StrCat(", v", controller.version, " at ", controller.directory);
}

}  // namespace

SandboxSupport ProbeSandboxUncached() {
  SandboxSupport support;
  support.seccomp = ProbeSeccomp();
  support.seccomp_user_notif = ProbeUserNotif();
  std::string reason;
  support.landlock_abi = LandlockAbi(&reason);
  support.landlock = support.landlock_abi > 0 ? Usable() : Unusable(reason);
  ProbeNetworkNamespace(&support);
  support.memory_cgroup = FindDelegatableController("memory");
  support.pids_cgroup = FindDelegatableController("pids");
  // The kernel does not count processes against RLIMIT_NPROC for uid 0 (nor with
  // CAP_SYS_RESOURCE, which sandboxed workers drop).
  support.rlimit_nproc =
      ::getuid() != 0 ? Usable() : Unusable("RLIMIT_NPROC does not bind uid 0 (root)");
  support.process_cpu_clock = ProbeProcessCpuClock();
  return support;
}

const SandboxSupport& ProbeSandbox() {
  static const SandboxSupport* const support = new SandboxSupport(ProbeSandboxUncached());
  return *support;
}

std::string SandboxSupport::Describe() const {
  std::string landlock_detail =
      landlock_abi > 0
          ? absl::StrCat(", ABI ", landlock_abi, landlock_abi >= 4 ? ", TCP rules" : "",
                         landlock_abi >= 6 ? ", signal scoping" : "")
          : "";
  return absl::StrCat(
      Line("seccomp-bpf", seccomp), Line("seccomp user notification", seccomp_user_notif),
      Line("landlock", landlock, landlock_detail),
      Line("network namespace", network_namespace,
           network_namespace_needs_user_namespace ? ", within a user namespace" : ""),
      Line("memory cgroup", memory_cgroup.feature, CgroupDetail(memory_cgroup)),
      Line("pids cgroup", pids_cgroup.feature, CgroupDetail(pids_cgroup)),
      Line("RLIMIT_NPROC", rlimit_nproc), Line("process CPU clock", process_cpu_clock));
}

}  // namespace fnhost::sandbox
