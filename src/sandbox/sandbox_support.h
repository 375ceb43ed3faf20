// SandboxSupport: which of the kernel features the sandbox builds on work for this process,
// each with the reason when one does not. ProbeSandbox() runs the probe once per process and
// caches it; the host shows it (fnhost inspect, metrics) and the layer uses it to choose a
// fallback, which it then reports (SandboxReport), never silently.
//
// The probe forks short-lived children (to try namespaces and another process's CPU clock);
// they make raw system calls only, so it is safe from a multithreaded host too.
//
// Thread-safety: ProbeSandbox is thread-safe; the result is immutable.

#ifndef FNHOST_SRC_SANDBOX_SANDBOX_SUPPORT_H_
#define FNHOST_SRC_SANDBOX_SANDBOX_SUPPORT_H_

#include <string>

namespace fnhost::sandbox {

// One feature: usable or not, and why not (empty when usable).
struct Feature {
  bool usable = false;
  std::string reason;
};

// A cgroup controller (memory or pids) this process could delegate to its workers.
struct CgroupController {
  Feature feature;
  int version = 0;        // 1 or 2; 0 when not found
  std::string directory;  // this process's cgroup directory in that hierarchy
};

struct SandboxSupport {
  Feature seccomp;            // seccomp-bpf filters with SECCOMP_RET_TRAP and RET_ERRNO
  Feature seccomp_user_notif; // SECCOMP_RET_USER_NOTIF (not used today; a supervisor could)
  Feature landlock;
  int landlock_abi = 0;       // 0 without Landlock; >= 4: TCP rules; >= 6: signal scoping
  Feature network_namespace;  // unshare(CLONE_NEWNET) alone (root), or within a user namespace
  bool network_namespace_needs_user_namespace = false;
  CgroupController memory_cgroup;
  CgroupController pids_cgroup;
  Feature rlimit_nproc;       // RLIMIT_NPROC binds this process's user (not uid 0)
  Feature process_cpu_clock;  // another process's CPU clock can be read (clock_getcpuclockid)

  // One line per feature, for logs and `fnhost inspect`.
  std::string Describe() const;
};

// The probe, run on the first call; later calls return the same object.
const SandboxSupport& ProbeSandbox();

// The probe itself, uncached (tests).
SandboxSupport ProbeSandboxUncached();

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SANDBOX_SUPPORT_H_
