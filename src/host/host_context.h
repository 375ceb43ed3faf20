// What every function of a host shares: its clock, file system, metrics sink, options and host
// services. Immutable after the host is created (but for the coarse time, and the registry,
// which is thread-safe); safe to read from any thread.

#ifndef FNHOST_SRC_HOST_HOST_CONTEXT_H_
#define FNHOST_SRC_HOST_HOST_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fnhost/clock.h"
#include "fnhost/executor.h"
#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "src/common/file_system.h"
#include "src/host/deadline_timer.h"
#include "src/host/task_threads.h"
#include "src/isolation/call_poller.h"
#include "src/runtime/service_registry.h"

namespace fnhost::internal {

class MemoryBudget;

struct HostContext {
  Clock* clock = nullptr;
  FileSystem* fs = nullptr;
  MetricsSink* sink = nullptr;  // null: no metrics
  MemoryBudget* budget = nullptr;  // null: no memory budget (HostOptions::memory_budget_mb)
  HostOptions options;
  // The host services (Host::RegisterService, and the built-in ones).
  std::unique_ptr<ServiceRegistry> services;
  // Runs work off the request path, on the host's background thread. Tasks scheduled with
  // `finish_at_shutdown` still run when the host shuts down; the others are dropped.
  std::function<void(std::function<void()> task, bool finish_at_shutdown)> run_in_background;

  // Asynchronous calls: the host's threads, the deadlines' timer, and where completions go
  // when a call names no executor (options.completion_executor, else `tasks`).
  std::unique_ptr<TaskThreads> tasks;
  std::unique_ptr<DeadlineTimer> timer;
  Executor* completions = nullptr;
  // Completes the asynchronous calls of functions in process isolation.
  std::unique_ptr<CallPoller> poller;

  // The clock's time at the last maintenance pass: instances going idle note it instead of
  // reading the clock on the warm path; keep-alive is precise to one maintenance interval.
  std::atomic<int64_t> coarse_now_nanos{0};
  absl::Time CoarseNow() const {
    return absl::FromUnixNanos(coarse_now_nanos.load(std::memory_order_relaxed));
  }
  void SetCoarseNow(absl::Time now) {
    coarse_now_nanos.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
  }
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_HOST_CONTEXT_H_
