// The sandbox of a worker process: ApplyInWorker puts a freshly forked, single-threaded worker
// under its function's SandboxPolicy, layer by layer, and reports what is in force.
//
// Who calls what, and when (a zygote forks the workers):
//   at registration (host):   ValidateSandboxPolicy (names, paths) and ProbeSandbox, whose
//                             Describe() goes to the log, `fnhost inspect` and the metrics;
//   in the zygote, once:      ProbeSandbox(); WorkerCgroups::Create(function, limits, support)
//                             if the policy has a memory or pids limit;
//   in the zygote, per fork:  WorkerCgroups::PrepareWorker() -> CgroupTicket, and
//                             SandboxDenials::Create() (its fd goes to the host with the
//                             worker's channel, as the doorbell's does); then fork;
//                             ticket.CloseDescriptors() in the zygote after the fork;
//   in the worker:            after the module's post-fork hook and instance creation (so
//                             init-time file reads still work), before its ready frame:
//                             ApplyInWorker(policy, context, &report); on error the worker
//                             reports it and exits (never serves unsandboxed);
//   in the host, per call:    the worker's ProcessCpuClock and CpuCheckInterval for
//                             cpu_time_limit; SandboxDenials::Read() for the metric;
//   after the worker's reap:  WorkerCgroups::Release(ticket) -> oom_killed, forks_refused.
//
// Layers, in order: the cgroups (through descriptors the parent opened); a private network
// namespace (within a user namespace when not privileged; that comes before RLIMIT_NPROC so
// that the limit counts the worker's own processes only); rlimits (RLIMIT_CORE 0, and
// RLIMIT_AS and RLIMIT_NPROC where no cgroup limits memory or pids); capabilities dropped;
// Landlock; the SIGSYS handler and seccomp last. A layer the kernel lacks falls back as
// SandboxReport says (never silently); a layer that fails on a kernel that has it is an error.
//
// Thread-safety: ApplyInWorker must run in a single-threaded process (a fresh fork).

#ifndef FNHOST_SRC_SANDBOX_SANDBOX_H_
#define FNHOST_SRC_SANDBOX_SANDBOX_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/sandbox_policy.h"
#include "src/sandbox/sandbox_support.h"

namespace fnhost::sandbox {

// Where the worker is and what it must still read.
struct SandboxContext {
  std::string function_name;
  std::string module_path;                   // readable under kStrict
  std::vector<std::string> dependency_dirs;  // directories of the module's DT_NEEDED libraries
  // The dynamic loader's and the C runtime's files. Default: DefaultRuntimeReadPaths().
  std::vector<std::string> runtime_paths = DefaultRuntimeReadPaths();
  CgroupTicket* cgroups = nullptr;  // from WorkerCgroups::PrepareWorker; null: rlimits only
  DenialPage* denials = nullptr;    // counts denials; null: denials not counted

  // /lib, /usr/lib, /etc/ld.so.cache and friends (those that exist), /proc/self (glibc and
  // sanitizers read /proc/self/maps), /sys/devices/system/cpu (CPU counts), /dev/null,
  // /dev/zero, /dev/urandom, time-zone data.
  static std::vector<std::string> DefaultRuntimeReadPaths();
};

enum class NetworkIsolation { kShared, kNamespace, kUserAndNetworkNamespace };
enum class MemoryLimit { kNone, kCgroup, kAddressSpace };
enum class PidsLimit { kNone, kCgroup, kRlimitNproc };
enum class FileRules { kUnrestricted, kLandlock, kSeccompNoOpen };
enum class SyscallFilter { kNone, kDenyList, kAllowList };

// What is in force in the worker after ApplyInWorker.
struct SandboxReport {
  SandboxLevel level = SandboxLevel::kOff;
  NetworkIsolation network = NetworkIsolation::kShared;
  MemoryLimit memory = MemoryLimit::kNone;
  PidsLimit pids = PidsLimit::kNone;
  FileRules files = FileRules::kUnrestricted;
  int landlock_abi = 0;
  bool tcp_denied_by_landlock = false;
  bool signals_scoped = false;  // Landlock: no signals to processes outside the worker
  SyscallFilter syscalls = SyscallFilter::kNone;
  bool capabilities_dropped = false;
  // One line per fallback: "memory: no memory cgroup (...); RLIMIT_AS in force".
  std::vector<std::string> fallbacks;

  // One line: "strict: network namespace, memory cgroup, pids cgroup, Landlock ABI 7 ...".
  std::string Summary() const;
};

// Applies `policy` to the calling process. kOff does nothing. Errors name the function and the
// layer; the process is then partly sandboxed and must not run module code.
absl::Status ApplyInWorker(const ValidatedPolicy& policy, const SandboxContext& where,
                           SandboxReport* in_force,
                           const SandboxSupport& support = ProbeSandbox());

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SANDBOX_H_
