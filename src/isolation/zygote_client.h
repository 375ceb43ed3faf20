// Process isolation for one version of a function: a zygote process loads the module and
// builds its state once; workers fork from it copy-on-write and serve calls over a socket. A
// crash, an abort, an endless loop (timeout) or a memory blow-up (limit) ends one worker with
// an error that names the function and the signal or limit; the host, the zygote and every
// other worker keep serving, and a new worker forks in about a millisecond.
//
//   host --posix_spawn--> fnhost-zygote (single-threaded) --fork--> worker, worker, ...
//
// A process with threads cannot fork safely (the child inherits locks held by threads that do
// not exist in it), so a zygote must stay single-threaded. When a module's init leaves threads
// running (an OpenMP or BLAS pool, a gRPC or curl client), its zygote reports it and exits, and
// Zygote::Start starts another that forks workers from the point just after loading the module
// instead (ForkPoint::kBeforeInit): each worker restores the state from a snapshot, which the
// first zygote or a short-lived builder process wrote once, or, for a module without snapshot
// support, runs the init itself. Without a snapshot directory the snapshot lives in a sealed
// memfd, which the host keeps while the Zygote lives, so that a restarted zygote reuses it.
//
// The host never forks (it is multithreaded: fork copies one thread). Workers are children of the
// zygote, which reaps them and reports each exit status on its control channel: that is how
// the host names the signal. The zygote dies with the host (parent-death signal, and EOF on
// its channel); workers die with the zygote; whatever a worker forks dies with the worker.
//
// Thread-safety: Zygote is thread-safe. A Worker is thread-safe but serves one call at a time
// (concurrent calls wait for each other), so a pool should give each worker concurrency 1.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/clock.h"
#include "fnhost/metrics.h"
#include "fnhost/zygote.pb.h"
#include "src/common/unique_fd.h"
#include "src/isolation/worker_protocol.h"

namespace fnhost {

namespace internal {
class ZygoteProcess;
struct ZygoteShared;
struct WorkerExit;
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
  // state (config.module: function_name and module_path are required; see
  // proto/fnhost/runtime.proto), whether to fork before the init, and each worker's limits
  // (memory, message size, spin budget). A zygote told to fork after the init still forks
  // before it when the init leaves threads.
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

  const std::string& function_name() const { return config.module().function_name(); }
};

// One worker process: one instance of the module, one call at a time.
class Worker {
 public:
  // Closes the worker's socket; the worker exits and its zygote reaps it.
  ~Worker();

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs one call in the worker. A module's error comes back as the in-process host returns it.
  // When the worker is lost the call fails, the worker is dead for good (alive() is false) and
  // the caller should spawn another:
  //   crash             UNAVAILABLE "function 'f': worker 1234 killed by signal SIGSEGV
  //                     (Segmentation fault) during invoke" (or "exited with status N")
  //   timeout           DEADLINE_EXCEEDED, the worker killed
  //   memory limit      RESOURCE_EXHAUSTED naming the limit, the worker exits
  //   broken channel    UNAVAILABLE "... closed its channel" / "... broke the channel protocol"
  //   zygote died       UNAVAILABLE "... lost during invoke: zygote 1200 killed by signal ..."
  // A call on a dead worker fails with FAILED_PRECONDITION; a request above max_message_bytes
  // with INVALID_ARGUMENT (the worker stays alive).
  absl::Status Invoke(std::string_view request, std::string* response);

  bool alive() const { return alive_.load(std::memory_order_acquire); }
  pid_t pid() const { return pid_; }
  // Once the worker is lost during a call: how, in one word for metrics — the signal
  // ("SIGSEGV"), "exit", "timeout", "memory_limit", "channel", "protocol" or "zygote". Empty
  // while it lives. Read it after the Invoke that lost the worker returned.
  std::string lost_reason() const;

 private:
  friend class Zygote;
  Worker(std::shared_ptr<internal::ZygoteShared> shared,
         std::shared_ptr<internal::ZygoteProcess> process, pid_t pid, int fd);

  absl::Time Deadline() const;
  // Reads the worker's first frame: ready, or why its start failed.
  absl::Status AwaitReady();
  // Ends a worker whose channel failed with `cause` and says what happened to it. Requires mu_.
  absl::Status Lost(const absl::Status& cause, std::string_view during);
  // lost_reason() for a worker lost with `cause`, ended as `exit` says.
  static std::string LostReason(const absl::Status& cause,
                                const std::optional<internal::WorkerExit>& exit);
  // Lets go of a worker that is gone. Requires mu_.
  void Release();

  const std::shared_ptr<internal::ZygoteShared> shared_;
  const std::shared_ptr<internal::ZygoteProcess> process_;
  const pid_t pid_;
  mutable std::mutex mu_;    // one call at a time
  int fd_;                   // guarded by mu_; -1 once released
  std::string lost_reason_;  // guarded by mu_
  internal::SpinPolicy spin_;        // guarded by mu_: the waits for responses
  internal::Doorbell* bell_ = nullptr;  // guarded by mu_; null: the worker sent none
  std::atomic<bool> alive_{true};
};

// The zygote of one function version, restarted once if it dies.
class Zygote {
 public:
  // Spawns the zygote and waits until it has loaded the module and built the state. Errors are
  // those of the in-process host for the same module (missing file, wrong ABI, init failed...)
  // or say how the zygote died.
  static absl::StatusOr<std::unique_ptr<Zygote>> Start(const ZygoteOptions& options);
  // Lets go of the zygote: it exits, with its workers, once no Worker of it remains.
  ~Zygote();

  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Forks a worker and waits until it has run the module's post-fork hook and created its
  // instance. A dead zygote is restarted first (one attempt per call). UNAVAILABLE while the
  // circuit breaker is open: "function 'f' is crash-looping (5 worker crashes within 1m); no
  // new workers for another 30s".
  absl::StatusOr<std::unique_ptr<Worker>> SpawnWorker();

  // From the module's table.
  const std::string& module_name() const { return module_name_; }
  const std::string& module_version() const { return module_version_; }
  int max_concurrency() const { return max_concurrency_; }
  // How the first start went, as the zygote saw it: the module's load phases and its state init
  // or restore, what happened to snapshots; `total` from the spawn of the zygote to its ready
  // report.
  struct StartReport {
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
  };
  const StartReport& start_report() const { return start_report_; }
  // The current zygote process (it changes on a restart).
  pid_t zygote_pid() const;

  struct Stats {
    int64_t workers_spawned = 0;
    int64_t worker_crashes = 0;   // workers lost during a call or their start, timeouts included
    int64_t worker_timeouts = 0;  // of which killed at invoke_timeout
    int64_t zygote_restarts = 0;
  };
  Stats stats() const;

 private:
  Zygote(std::shared_ptr<internal::ZygoteShared> shared,
         std::shared_ptr<internal::ZygoteProcess> process, std::string module_name,
         std::string module_version, int max_concurrency);

  std::shared_ptr<internal::ZygoteProcess> process() const;
  // Replaces `dead` by a new zygote, unless another caller did already.
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> Restart(
      const std::shared_ptr<internal::ZygoteProcess>& dead);

  const std::shared_ptr<internal::ZygoteShared> shared_;
  const std::string module_name_;
  const std::string module_version_;
  const int max_concurrency_;
  StartReport start_report_;
  mutable std::mutex mu_;  // guards what follows; held through a restart
  std::shared_ptr<internal::ZygoteProcess> process_;
  // For a restart: the fork point learned by the first start, and the sealed memfd that holds
  // the state's snapshot when a zygote that forks before init maps one (else invalid).
  bool fork_before_init_ = false;
  internal::UniqueFd snapshot_fd_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_
