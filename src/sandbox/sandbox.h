// The sandbox of a worker process: a zygote prepares its function's sandbox once
// (PreparedSandbox), and each worker it forks applies it to itself before running module code,
// layer by layer, and reports what is in force.
//
// Who calls what, and when:
//   at registration (host):   ValidateSandboxPolicy (names, paths) and ProbeSandbox, whose
//                             Describe() goes to the log, `fnhost inspect` and the metrics;
//   in the zygote, once,      ProbeSandbox() (cached for the workers: they never probe);
//   after the module's init:  PreparedSandbox::Prepare (the Landlock ruleset with its rules
//                             and the compiled seccomp program, so that a worker's share is a
//                             few system calls); EnterInZygote (the private network and the
//                             capability bounding set, once for every worker);
//                             WorkerCgroups::Create if the policy limits memory or pids;
//   in the zygote, per fork:  WorkerCgroups::PrepareWorker() -> CgroupTicket, and
//                             SandboxDenials::Create() (its fd goes to the host with the
//                             worker's channel, as the doorbell's does); fork; then
//                             ticket.CloseDescriptors() in the zygote;
//   in the worker:            first, closes what the zygote holds from the descriptor floor
//                             up (held_files.h); after the module's post-fork hook and its
//                             doorbell (init-time reads still work), before its instance and
//                             its ready frame: prepared.ApplyInWorker(resources, &report); on
//                             error the worker reports it and exits: it never serves
//                             unsandboxed;
//   in the host, per call:    the worker's ProcessCpuClock and CpuCheckInterval for
//                             cpu_time_limit; SandboxDenials::Read() for the metric;
//   after the worker's reap:  WorkerCgroups::Release(ticket) -> oom_killed, forks_refused.
//
// Layers, in order: the cgroups (through descriptors the parent opened); a private network
// namespace unless the zygote entered one (within a user namespace when not privileged); a
// user namespace of its own where RLIMIT_NPROC must count the worker's processes only; rlimits
// (RLIMIT_CORE 0, and RLIMIT_AS and RLIMIT_NPROC where no cgroup limits memory or pids);
// capabilities dropped; Landlock; the SIGSYS handler and seccomp last. A layer the kernel lacks
// falls back as SandboxReport says (never silently); a layer that fails on a kernel that has it
// is an error.
//
// Thread-safety: Prepare and EnterInZygote in the single-threaded zygote; ApplyInWorker in a
// single-threaded process (a fresh fork).

#ifndef FNHOST_SRC_SANDBOX_SANDBOX_H_
#define FNHOST_SRC_SANDBOX_SANDBOX_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/sandbox_policy.h"
#include "src/sandbox/sandbox_support.h"

namespace fnhost::sandbox {

// What the worker must still read, besides the policy's read_paths.
struct SandboxContext {
  std::string function_name;
  std::string module_path;                   // readable under kStrict
  std::vector<std::string> dependency_dirs;  // directories of the module's DT_NEEDED libraries
  // The dynamic loader's and the C runtime's files. Default: DefaultRuntimeReadPaths().
  std::vector<std::string> runtime_paths = DefaultRuntimeReadPaths();

  // /lib, /usr/lib, /etc/ld.so.cache and friends, /proc/self (glibc and sanitizers read
  // /proc/self/maps), the executable (sanitizers symbolize from it), /sys/devices/system/cpu
  // (CPU counts), /dev/null, /dev/zero, /dev/urandom, time-zone data. Those missing on a
  // system are skipped.
  static std::vector<std::string> DefaultRuntimeReadPaths();
};

// What the zygote made for one worker before forking it.
struct WorkerResources {
  CgroupTicket* cgroups = nullptr;  // from WorkerCgroups::PrepareWorker; null: rlimits only
  DenialPage* denials = nullptr;    // counts denials; null: denials not counted
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

  bool operator==(const SandboxReport&) const = default;
};

// One function's sandbox, ready for its workers.
class PreparedSandbox {
 public:
  // Errors name the function and the layer (a read path that cannot be opened, ...).
  static absl::StatusOr<std::unique_ptr<PreparedSandbox>> Prepare(
      const ValidatedPolicy& policy, const SandboxContext& context,
      const SandboxSupport& support = ProbeSandbox());
  ~PreparedSandbox();

  // In the zygote, once: takes on what all its workers share, which each worker forked later
  // inherits: a private network (unless the policy allows the network) and an empty capability
  // bounding set (the zygote keeps its capabilities). Optional: without it each worker makes
  // its own network namespace, which costs it about a millisecond, and its own teardown.
  absl::Status EnterInZygote();

  // In the worker: applies the policy to the calling process. kOff does nothing. On error the
  // process is partly sandboxed and must not run module code.
  absl::Status ApplyInWorker(const WorkerResources& resources, SandboxReport* in_force);

  // In the zygote: what ApplyInWorker with `resources` reports where every step succeeds,
  // without a step taken. The zygote serializes it once; a worker whose report equals it sends
  // that, instead of building its own report on its copy-on-write heap.
  SandboxReport PredictReport(const WorkerResources& resources);

  struct Layers;  // defined in apply.cc

 private:
  explicit PreparedSandbox(std::unique_ptr<Layers> layers);
  std::unique_ptr<Layers> layers_;
};

// Prepare and ApplyInWorker in one, for a process that sandboxes itself once.
absl::Status ApplyInWorker(const ValidatedPolicy& policy, const SandboxContext& context,
                           const WorkerResources& resources, SandboxReport* in_force,
                           const SandboxSupport& support = ProbeSandbox());

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SANDBOX_H_
