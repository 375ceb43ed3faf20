// SandboxPolicy: what a worker of one function may do once its sandbox is in force, as the
// function's config states it. The policy is plain data; ValidateSandboxPolicy checks it once
// (at registration) and resolves the syscall names, so that a worker applying it cannot fail
// on a typo after it has forked.
//
// Levels:
//   off     nothing beyond what process isolation already does;
//   basic   a private network, resource limits, no capabilities, a seccomp deny-list of the
//           escape syscalls (process creation, exec, ptrace, other processes' memory, mounts,
//           namespaces, bpf, keyrings, perf, io_uring, userfaultfd, raising rlimits, new
//           sockets), and Landlock writes only in write_paths; reads are not restricted;
//   strict  as basic, but seccomp is an allow-list for compute modules and Landlock also
//           restricts reads to the module, its dependencies, the dynamic loader's files and
//           read_paths.
//
// Thread-safety: plain values; ValidateSandboxPolicy is thread-safe.

#ifndef FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_
#define FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::sandbox {

enum class SandboxLevel { kOff, kBasic, kStrict };

// What a denied system call does to the worker.
enum class DenialAction {
  kErrno,  // the call fails with EPERM and the module carries on
  kKill,   // the worker dies of SIGSYS; the host sees the signal and replaces it
};

struct SandboxPolicy {
  // Default: kOff.
  SandboxLevel level = SandboxLevel::kOff;

  // Default: kErrno. Either way the attempt is counted (see denial_counters.h).
  DenialAction on_denial = DenialAction::kErrno;

  // System calls allowed on top of the level's profile, by name ("memfd_create"). A name the
  // profile allows only with restricted arguments (clone, kill, ioctl, prctl...) becomes
  // allowed with any arguments. Default: empty.
  std::vector<std::string> allow_syscalls;

  // Absolute paths (files or directories, whole trees) a worker may read under kStrict, on top
  // of the module, its dependencies' directories and the dynamic loader's files. Default: empty.
  std::vector<std::string> read_paths;

  // Absolute paths a worker may write (create, truncate, remove beneath). Default: empty.
  std::vector<std::string> write_paths;

  // Keeps the host's network (no network namespace, sockets allowed). Default: false.
  bool allow_network = false;

  // Memory a worker may use beyond what it shares with the zygote: a cgroup memory limit where
  // the host can create cgroups, else RLIMIT_AS beyond the worker's address space at start.
  // 0: no limit. Default: 0.
  uint64_t memory_limit_bytes = 0;

  // Processes and threads a worker may have at once: a cgroup pids limit, else RLIMIT_NPROC
  // (which does not bind uid 0). 0: no limit. Default: 64 (a module's thread pool fits).
  uint64_t pids_limit = 64;

  // CPU time a call may take on the worker's CPU clock; enforced by the caller (see
  // cpu_clock.h), not by ApplyInWorker. Zero: no limit. Default: zero.
  absl::Duration cpu_time_limit = absl::ZeroDuration();
};

// "off", "basic", "strict".
std::string_view LevelName(SandboxLevel level);
absl::StatusOr<SandboxLevel> ParseLevel(std::string_view name);

// A checked policy with its syscall names resolved to this architecture's numbers.
struct ValidatedPolicy {
  SandboxPolicy policy;
  std::vector<int> allow_syscall_numbers;  // in the order of policy.allow_syscalls
};

// Checks `policy` for `function`: every allow_syscalls name is a system call here, and every
// path is absolute. INVALID_ARGUMENT naming the function and the bad entry otherwise.
absl::StatusOr<ValidatedPolicy> ValidateSandboxPolicy(std::string_view function,
                                                      const SandboxPolicy& policy);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_
