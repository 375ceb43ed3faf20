// The host's handle on one fnhost-zygote process and its control channel: start it, ask it for
// workers, ask it to kill one, and learn how each worker ended. Workers are children of the
// zygote, so only the zygote can reap them: it reports every exit status on the channel, and
// the host files the reports of the workers it still watches.
//
// Thread-safe: one mutex serialises the control channel; a caller waiting for a reply holds it
// and files away the exit reports that arrive meanwhile.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_PROCESS_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "src/common/mutex.h"
#include "src/common/unique_fd.h"
#include "src/isolation/worker_loss.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_options.h"

namespace fnhost::internal {

class ZygoteProcess {
 public:
  // Spawns a zygote (see ZygoteOptions::zygote_executable), has it load the module and build
  // its state, and waits for that. The errors are those of the in-process host (missing file,
  // ABI mismatch, init failure...), or name how the zygote died.
  //
  // With `fork_before_init`, the zygote forks its workers before the init, and maps
  // `snapshot_fd` (a sealed memfd, or -1) if it holds the state's snapshot. With
  // `snapshot_is_reload`, `snapshot_fd` is instead the reload source (ZygoteOptions::reload_fd)
  // and config.module.reload_schema applies; otherwise that is cleared. Otherwise, when
  // the module's init leaves threads, the zygote reports that and exits, and Start starts
  // another that forks before the init, handing it the snapshot the first one wrote. `report`
  // then holds both starts' phases added up; `*snapshot_fd_out`, if not null, receives the
  // memfd the zygote maps (invalid if none).
  static absl::StatusOr<std::shared_ptr<ZygoteProcess>> Start(const ZygoteOptions& options,
                                                              bool fork_before_init,
                                                              int snapshot_fd,
                                                              bool snapshot_is_reload,
                                                              ZygoteStartReport* report,
                                                              UniqueFd* snapshot_fd_out);
  // Closes the channel: the zygote kills and reaps its workers and exits; then reaps the zygote.
  ~ZygoteProcess();

  ZygoteProcess(const ZygoteProcess&) = delete;
  ZygoteProcess& operator=(const ZygoteProcess&) = delete;

  struct Spawned {
    pid_t pid;
    int fd;               // the host's end of the worker's socket, close-on-exec
    int denials_fd = -1;  // with a sandbox: the memfd of the worker's denial counters
  };
  // Forks a worker and watches it. UNAVAILABLE once the zygote is gone.
  absl::StatusOr<Spawned> Spawn();
  // Has the zygote SIGKILL a worker and its process group; a no-op for one already reaped.
  void Kill(pid_t worker);
  // Waits for the report of a watched worker's end; nullopt if the zygote goes first.
  std::optional<WorkerExit> AwaitExit(pid_t worker);
  // Stops watching a worker (drops its report).
  void Forget(pid_t worker);

  pid_t pid() const { return pid_; }
  // Whether its workers run the module's init themselves (forked before init, no snapshot):
  // their start is then not bounded by the invoke timeout.
  bool workers_run_init() const { return workers_run_init_; }
  bool gone() const;
  // Why the zygote is gone: "zygote 1234 killed by signal SIGKILL (Killed)".
  std::string GoneReason() const;

 private:
  ZygoteProcess(const ZygoteOptions& options, pid_t pid, int fd);

  // One zygote start: spawn, config, report. `*threaded` is set when the zygote reported that
  // the init left threads (and exits): the caller starts another. `*passed` receives the
  // descriptor that came with the report.
  static absl::StatusOr<std::shared_ptr<ZygoteProcess>> StartOnce(
      const ZygoteOptions& options, bool fork_before_init, int snapshot_fd,
      bool snapshot_is_reload, ZygoteStartReport* report, bool* threaded, UniqueFd* passed);
  // Sends the (encoded) config and reads the zygote's answer to it, answering the host calls
  // and log lines of the module's init meanwhile.
  absl::Status Configure(const std::string& config, int snapshot_fd, ZygoteStartReport* report,
                         bool* threaded, UniqueFd* passed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the answer to the config: the first frame that is not the init's host call or log
  // line, which are answered on the way.
  absl::Status ReadInitAnswer(FrameHeader* header, std::string* payload, int* fd)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reads the next frame; files an exit report of a watched worker.
  absl::Status ReadFrame(absl::Time deadline, FrameHeader* header, std::string* payload, int* fd,
                         int* second_fd = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The zygote failed the protocol or died: kills (if need be) and reaps it.
  void MarkGone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string GoneReasonLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status GoneError() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string function_name_;
  const std::string module_path_;
  const FunctionServices* const services_;
  const uint32_t max_message_bytes_;
  const pid_t pid_;
  const int fd_;
  bool workers_run_init_ = false;  // set by Start

  mutable Mutex mu_;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(mu_) = 0;  // of the zygote, once gone
  absl::flat_hash_set<pid_t> watched_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<pid_t, WorkerExit> exits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_PROCESS_H_
