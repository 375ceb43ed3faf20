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
// Files: zygote_options.h (what the host configures and learns), worker.h (one worker, seen
// from the host), zygote_process.h (one zygote process and its control channel), control_frames.h
// and worker_protocol.h (what the channels carry); the zygote's own side is zygote_main.cc,
// zygote_state.h and zygote_worker.h; process_backend.h puts it all behind InstanceBackend.
//
// Thread-safety: Zygote is thread-safe. A Worker is thread-safe but serves one call at a time
// (concurrent calls wait for each other), so a pool should give each worker concurrency 1.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/common/mutex.h"
#include "src/common/unique_fd.h"
#include "src/isolation/worker.h"
#include "src/isolation/zygote_options.h"
#include "src/isolation/zygote_shared.h"

namespace fnhost {

namespace internal {
class ZygoteProcess;
}  // namespace internal

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
  const std::string& module_name() const { return start_report_.module_name; }
  const std::string& module_version() const { return start_report_.module_version; }
  int max_concurrency() const { return start_report_.max_concurrency; }
  // How the first start went (see ZygoteStartReport).
  using StartReport = ZygoteStartReport;
  const StartReport& start_report() const { return start_report_; }
  // The current zygote process (it changes on a restart).
  pid_t zygote_pid() const;

  using Stats = internal::ZygoteStats;
  Stats stats() const { return shared_->stats(); }

 private:
  Zygote(std::shared_ptr<internal::ZygoteShared> shared,
         std::shared_ptr<internal::ZygoteProcess> process, StartReport report);

  std::shared_ptr<internal::ZygoteProcess> process() const;
  // Replaces `dead` by a new zygote, unless another caller did already.
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> Restart(
      const std::shared_ptr<internal::ZygoteProcess>& dead);

  const std::shared_ptr<internal::ZygoteShared> shared_;
  const StartReport start_report_;
  mutable internal::Mutex mu_;  // held through a restart
  std::shared_ptr<internal::ZygoteProcess> process_ ABSL_GUARDED_BY(mu_);
  // For a restart: the fork point learned by the first start, and the sealed memfd that holds
  // the state's snapshot when a zygote that forks before init maps one, or else the reload
  // source the state was built from (snapshot_is_reload_); invalid when neither.
  bool fork_before_init_ ABSL_GUARDED_BY(mu_) = false;
  internal::UniqueFd snapshot_fd_ ABSL_GUARDED_BY(mu_);
  bool snapshot_is_reload_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_CLIENT_H_
