// CpuBudget: the CPU time one call may use in a worker (SandboxOptions::cpu_time_limit),
// measured on the worker's process CPU clock (all its threads), so that a call sleeping on I/O
// uses none and a spinning one uses its wall time. The host starts the budget when it sends
// the request and, while it waits for the response, calls Check() whenever NextCheck() says it
// must; once Check() fails, the caller kills the worker. Whoever waits (the synchronous wait in
// Worker::Invoke, or a poller thread) uses it the same way:
//
//   budget.Start();
//   send the request;
//   while no response: wait at most budget.NextCheck(); if (!budget.Check().ok()) kill;
//
// NextCheck() is the soonest the limit could be passed (the time left, divided among the CPUs
// the worker may run on), never less than a millisecond: a call far from its limit costs a
// clock read now and then, one close to it is checked every millisecond.
//
// Thread-safety: none; one per worker, used by whoever waits for its call.

#ifndef FNHOST_SRC_ISOLATION_CPU_BUDGET_H_
#define FNHOST_SRC_ISOLATION_CPU_BUDGET_H_

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::internal {

class CpuBudget {
 public:
  // Reads the worker's CPU time so far; NOT_FOUND once the process is gone.
  using CpuClock = std::function<absl::StatusOr<absl::Duration>()>;

  // `limit` per call, positive; `cpus`: how many CPUs the worker's threads may use at once.
  CpuBudget(CpuClock clock, absl::Duration limit, int cpus)
      : clock_(std::move(clock)), limit_(limit), cpus_(cpus) {}

  // A budget on the CPU clock of process `pid`, with the CPUs this process may run on.
  // NOT_FOUND (or another error) when that clock cannot be read.
  static absl::StatusOr<CpuBudget> ForProcess(int pid, absl::Duration limit);

  // At the start of a call: the call's CPU time counts from here.
  void Start();
  // Reads the clock. DEADLINE_EXCEEDED once the call has used the limit ("call used
  // 1.002s of CPU time, above its cpu_time_limit of 1s"), with the payload
  // kSandboxLimitPayloadUrl = "cpu_time"; OK otherwise, also when the clock cannot be read (a
  // worker that died says so on its channel).
  absl::Status Check();
  // How long the caller may wait (wall time) before the next Check().
  absl::Duration NextCheck() const;

  absl::Duration limit() const { return limit_; }
  // CPU time of the current call as of the last Start() or Check().
  absl::Duration used() const { return used_; }

 private:
  CpuClock clock_;
  absl::Duration limit_;
  int cpus_;
  absl::Duration start_;  // the clock at Start()
  absl::Duration used_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_CPU_BUDGET_H_
