// SandboxOptions: what a function's workers may do, in process isolation. A worker applies its
// sandbox to itself once its state is built (the zygote's init, or its own restore or init),
// before it makes its instance: an init may read its model file; the instance's creation and
// the calls get the sandbox's rules. Each layer rests on a kernel feature that the host probes
// at start-up; where one is missing the worker falls back as the README's "Sandbox" table
// says, with a log line, and the metric fnhost_sandbox_in_force{function,layer,mechanism}
// says what is in force.
//
// Levels:
//   kOff     nothing beyond process isolation (the other fields but cpu_time_limit unused);
//   kBasic   a private network, memory and process limits, no capabilities, Landlock writes only
//            in write_paths, and a seccomp deny-list of the escape calls (fork, exec, ptrace,
//            other processes' memory, mounts, namespaces, bpf, keyrings, new sockets, raising
//            rlimits...); reads are not restricted;
//   kStrict  as kBasic, but seccomp allows only what compute needs (memory, futexes, clocks, I/O
//            on descriptors already open, threads, signals to itself) and Landlock restricts
//            reads to the module, its dependencies, the dynamic loader's files and read_paths.
// A denied system call fails with EPERM (or kills the worker, see on_denial) and is counted in
// fnhost_sandbox_denials_total{function,syscall}.
//
// Thread-safety: plain data.

#ifndef FNHOST_SANDBOX_OPTIONS_H_
#define FNHOST_SANDBOX_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fnhost {

struct SandboxOptions {
  enum class Level { kOff, kBasic, kStrict };
  // Default: kOff, no sandbox.
  Level level = Level::kOff;

  // What a denied system call does to the worker.
  enum class OnDenial {
    kErrno,  // the call fails with EPERM and the module carries on
    kKill,   // the worker dies of SIGSYS: the call fails with UNAVAILABLE, a new worker serves
  };
  // Default: kErrno. Either way the attempt is counted.
  OnDenial on_denial = OnDenial::kErrno;

  // System calls allowed on top of the level's profile, by name ("memfd_create"). A call the
  // profile allows only with some arguments (clone for threads, kill of itself) is then allowed
  // with any. An unknown name fails Register. Default: empty.
  std::vector<std::string> allow_syscalls;

  // Files or directories (whole trees) a worker may read under kStrict, beyond the module, its
  // dependencies' directories and the dynamic loader's files. Relative paths are made absolute
  // at Register, as module_path is; each must exist then. Default: empty.
  std::vector<std::string> read_paths;

  // Directories (whole trees) a worker may write in: create, truncate, remove. As read_paths
  // for relative paths. Default: empty, no writes anywhere.
  std::vector<std::string> write_paths;

  // Keeps the host's network: no network namespace, sockets allowed, no Landlock TCP rules.
  // Default: false, a worker has no network at all.
  bool allow_network = false;

  // Counts the opens Landlock refuses in fnhost_sandbox_denials_total, as seccomp's denials
  // are (x86_64): every open the filter allows traps into the worker's SIGSYS handler, which
  // makes it again and counts a refusal. A thread that blocks SIGSYS dies at its first open
  // (the kernel's rule for a trap it cannot deliver); Boost.Asio's thread pools block every
  // signal in their threads, so a module whose such threads open files after its init needs
  // false. Default: true.
  bool count_refused_opens = true;

  // Memory a worker may use beyond what it shares with its zygote: a memory cgroup per worker
  // where the host can create cgroups, else RLIMIT_AS (virtual memory beyond the worker's
  // address space at its start). A call past it fails with RESOURCE_EXHAUSTED and its worker
  // is replaced. Needs kBasic or kStrict; not together with IsolationOptions::memory_limit_bytes.
  // 0: no limit. Default: 0.
  uint64_t memory_limit_bytes = 0;

  // Processes and threads a worker may have at once: a pids cgroup, else RLIMIT_NPROC (which
  // does not bind root). Whatever seccomp allows (allow_syscalls "clone"), a fork bomb stops
  // here. 0: no limit. Default: 64 (a module's thread pool fits).
  uint64_t pids_limit = 64;

  // CPU time one call may use, all the worker's threads together, on the worker's CPU clock: a
  // call that sleeps on I/O uses none. Past it the worker is killed and the call fails with
  // DEADLINE_EXCEEDED, SandboxLimitReason "cpu_time". Applies at every level, kOff included.
  // Zero: no limit. Default: zero.
  absl::Duration cpu_time_limit = absl::ZeroDuration();
};

// A call ended by a sandbox limit carries a payload under this type URL whose value names the
// limit: "cpu_time" (cpu_time_limit) or "memory" (memory_limit_bytes).
inline constexpr char kSandboxLimitPayloadUrl[] = "type.fnhost.dev/fnhost.SandboxLimit";

// The limit that ended a call (see kSandboxLimitPayloadUrl), or an empty string.
inline std::string SandboxLimitReason(const absl::Status& status) {
  auto reason = status.GetPayload(kSandboxLimitPayloadUrl);  // absl::optional in Debian's Abseil
  return reason.has_value() ? std::string(*reason) : std::string();
}

}  // namespace fnhost

#endif  // FNHOST_SANDBOX_OPTIONS_H_
