// What the host side of process isolation is configured with (ZygoteOptions), and what it
// learns from a zygote's start (ZygoteStartReport). See zygote_client.h for the whole picture.
//
// Thread-safety: plain data.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_OPTIONS_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_OPTIONS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/clock.h"
#include "fnhost/metrics.h"
#include "fnhost/zygote.pb.h"

namespace fnhost {

namespace internal {
class FunctionServices;
}  // namespace internal

// Where a zygote forks its workers from.
enum class ForkPoint {
  kAfterInit,   // the zygote built the state; workers share it copy-on-write
  kBeforeInit,  // the zygote only loaded the module; each worker restores or builds its state
};
// "fork_after_init" or "fork_before_init", as metrics and `fnhost inspect` name them.
std::string_view ForkPointName(ForkPoint point);

struct ZygoteOptions {
  // What the zygote loads and how its workers run, sent to it as it is: the module and its
  // state (config.module, see proto/fnhost/runtime.proto: function_name and module_path are
  // required), whether to fork before the init, and each worker's limits (memory, message
  // size, spin budget). A zygote told to fork after the init still forks before it when the
  // init leaves threads.
  zygote::ZygoteConfig config;
  // The fnhost-zygote executable. Default: empty, "fnhost-zygote" next to the running
  // executable (/proc/self/exe), else the one in fnhost's build tree.
  std::string zygote_executable;
  // How long one call, or a worker's start, may take; past it the worker is killed and the call
  // fails with DEADLINE_EXCEEDED. Measured in real time. A worker that runs the module's init
  // itself (ForkPoint::kBeforeInit without a snapshot) has no limit on its start, as a zygote's
  // init has none. Default: no limit.
  absl::Duration invoke_timeout = absl::InfiniteDuration();
  // Circuit breaker: after crash_limit worker crashes within crash_window, SpawnWorker refuses
  // with UNAVAILABLE for crash_backoff. crash_limit 0 disables it. Default: 5 in 60 s, 30 s.
  int crash_limit = 5;
  absl::Duration crash_window = absl::Seconds(60);
  absl::Duration crash_backoff = absl::Seconds(30);
  // The circuit breaker's clock. Default: nullptr, Clock::Real().
  Clock* clock = nullptr;
  // The function's host services and logger, which answer what the module's init (in the
  // zygote, its snapshot builder or a worker) and its calls send to the host (host-service
  // calls, log lines); config.module.offer must describe them. Not owned; must outlive the
  // Zygote and its Workers. Default: nullptr, every host call is refused, lines are dropped.
  const internal::FunctionServices* services = nullptr;
  // A reload that keeps state: a sealed memfd with the live state of the version this one
  // replaces, whose schema is config.module.reload_schema. The zygote builds its state from it
  // when the module declares that schema. The caller keeps it open until Start returns; the
  // Zygote keeps a copy for its restarts. Default: -1, none.
  int reload_fd = -1;
  // CPU time one call may use in a worker, checked by the host on the worker's CPU clock
  // (cpu_budget.h); the sandbox itself is config.sandbox. Default: zero, no limit.
  absl::Duration cpu_time_limit = absl::ZeroDuration();

  const std::string& function_name() const { return config.module().function_name(); }
};

// How a zygote's start went, as the zygote saw it: the module, its load phases and its state
// init or restore, what happened to snapshots; `total` from the spawn of the zygote to its
// ready report (measured by the host).
struct ZygoteStartReport {
  std::string module_name;  // from the module's table
  std::string module_version;
  int max_concurrency = 1;
  absl::Duration file_checks;
  absl::Duration dlopen;
  absl::Duration abi_check;
  absl::Duration state_init;  // state_create, or state_restore + state_after_restore
  absl::Duration total;
  bool restored = false;      // the state came from a snapshot
  std::string snapshot_path;  // empty: snapshots off, or the module does not support them
  struct SnapshotNote {
    SnapshotEventKind kind;
    std::string path;  // the snapshot file, "(sealed memfd)", or empty
    std::string detail;
  };
  std::vector<SnapshotNote> snapshot_events;  // in order
  ForkPoint fork_point = ForkPoint::kAfterInit;
  // Threads of the process that built the state (by init or restore) once it had (1: the
  // module left none); 0 when no zygote or builder built it (a snapshot was at hand).
  int init_threads = 0;
  // ForkPoint::kBeforeInit without a snapshot: each worker runs the module's init.
  bool workers_run_init = false;
  // The module's state schema (0: none), and whether the state was built from the reload
  // source (ZygoteOptions::reload_fd).
  uint32_t state_schema = 0;
  bool kept_state = false;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_OPTIONS_H_
