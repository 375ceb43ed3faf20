// How a worker process was lost during a call or its start, as one reason that the host's
// messages, its circuit breaker and its metrics all read from. The metrics label of each
// reason is the word the README's table uses ("SIGSEGV", "exit", "timeout", "memory_limit",
// "channel", "protocol", "zygote", "cpu_time").
//
// Thread-safety: plain data and functions without state.

#ifndef FNHOST_SRC_ISOLATION_WORKER_LOSS_H_
#define FNHOST_SRC_ISOLATION_WORKER_LOSS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace fnhost::internal {

// How a worker ended, as its zygote saw it.
struct WorkerExit {
  int wait_status = 0;             // as waitpid(2) gives it
  bool killed_on_request = false;  // the SIGKILL came from the host's Kill
  bool oom_killed = false;         // its sandbox's memory cgroup killed it at the limit
};

// "killed by signal SIGSEGV (Segmentation fault)" or "exited with status 3".
std::string DescribeWaitStatus(int wait_status);

// For a worker: what a death by SIGSYS most likely means under the sandbox ("; the sandbox
// ..."), else "".
std::string SandboxTrapHint(int wait_status);

enum class WorkerLoss {
  kNone,         // alive
  kSignal,       // killed by a signal it got (a crash, an abort)
  kExit,         // exited on its own (the module called exit)
  kTimeout,      // killed by the host at the invoke timeout
  kMemoryLimit,  // reached its memory limit and exited, or its memory cgroup killed it
  kChannel,      // closed or broke its channel (and was ended for it)
  kProtocol,     // wrote something on its channel that is not a frame
  kZygote,       // its zygote died, so how the worker ended is unknown
  kCancelled,    // killed by the host because its call was cancelled (not a crash)
  kWatchdog,     // killed by the host because a call's watchdog check failed
  kCpuTime,      // killed by the host for using its call's CPU time (sandbox cpu_time_limit)
};

struct WorkerLossReason {
  WorkerLoss loss = WorkerLoss::kNone;
  int signal = 0;  // kSignal: which

  // The metrics label: "SIGSEGV" (or "signal_N" for a signal without a name), "exit",
  // "timeout", "memory_limit", "channel", "protocol", "zygote", "cancelled", "watchdog",
  // "cpu_time"; empty for kNone.
  std::string Label() const;
};

// The reason of a worker whose channel failed with `cause` and that ended as `exit` tells
// (nullopt: the zygote died before it could say). A `cause` whose SandboxLimitReason is
// "cpu_time" is the host's CPU check (CpuBudget).
WorkerLossReason ClassifyLoss(const absl::Status& cause, const std::optional<WorkerExit>& exit);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_LOSS_H_
