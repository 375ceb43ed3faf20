// CPU time of a worker, for a per-call CPU limit (SandboxPolicy::cpu_time_limit) that the
// caller enforces: a call that sleeps on I/O uses none, a spinning one uses its wall time, and
// a module's threads add up. The caller reads the worker's process CPU clock before the call
// and whenever CpuCheckInterval says it must look again, and kills the worker once the call's
// share passes the limit. Reading another process's CPU clock needs no privilege.
//
// Thread-safety: ProcessCpuClock is an immutable value; Now() is thread-safe.

#ifndef FNHOST_SRC_SANDBOX_CPU_CLOCK_H_
#define FNHOST_SRC_SANDBOX_CPU_CLOCK_H_

#include <sys/types.h>
#include <time.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::sandbox {

class ProcessCpuClock {
 public:
  // The CPU clock of process `pid` (all its threads). NOT_FOUND when there is no such process.
  static absl::StatusOr<ProcessCpuClock> ForProcess(pid_t pid);
  static ProcessCpuClock ForThisProcess();
  static ProcessCpuClock ForThisThread();

  // CPU time used so far; NOT_FOUND once the process is gone (reaped).
  absl::StatusOr<absl::Duration> Now() const;

 private:
  explicit ProcessCpuClock(clockid_t id) : id_(id) {}
  clockid_t id_;
};

// How long (wall time) a caller may wait for a call's response before it must read the CPU
// clock again: a process on `cpus` CPUs cannot use more than `cpus` times the wall time, so
// the limit cannot be passed before then. At least `granularity`, so that a call close to its
// limit does not make the caller spin; zero once `used` reached `limit`.
absl::Duration CpuCheckInterval(absl::Duration used, absl::Duration limit, int cpus,
                                absl::Duration granularity = absl::Milliseconds(1));

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_CPU_CLOCK_H_
