// ZygoteState: what a fnhost-zygote holds for the workers it forks — the loaded module and,
// depending on where the workers fork from (ForkPoint), the module's built state, or a mapped
// snapshot that each worker restores from, or nothing (each worker runs the init).
//
// A zygote must stay single-threaded to fork safely, so it checks its threads after loading
// (a module whose libraries start threads in their constructors cannot be isolated at all) and
// after building the state:
// - Fork after init (the default): BuildHere restores the state from a snapshot in the host's
//   snapshot directory, else runs the init, then counts threads. If some are left (an OpenMP or
//   BLAS pool, a gRPC client), this process must not fork; it writes the state's snapshot for
//   its successor (to the snapshot directory, else to a sealed memfd) and the zygote reports
//   kThreadedInit and exits. The host then starts a zygote that forks before init.
// - Fork before init: PrepareBeforeInit builds nothing here. For a module with snapshot support
//   it maps a snapshot — the memfd the host handed over, else a matching one in the snapshot
//   directory, else one that a builder writes: a fork of this zygote that runs the init, writes
//   the snapshot (directory, else a sealed memfd) and exits, so that the init's threads never
//   exist in the zygote. Each worker restores from that mapping, which it inherits (zero-copy:
//   the sections stay where they are mapped). Without snapshot support each worker runs the init.
//
// Not thread-safe: a zygote has one thread.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_STATE_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_STATE_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/snapshot.pb.h"
#include "src/host/abi_glue.h"
#include "src/isolation/unique_fd.h"
#include "src/isolation/zygote_messages.h"
#include "src/loader/module_loader.h"
#include "src/snapshot/mapped_snapshot.h"

namespace fnhost::internal {

// Threads of this process, as /proc/self/task lists them.
int CountThreads();

class ZygoteState {
 public:
  explicit ZygoteState(const ZygoteConfig& config) : config_(config) {}
  ZygoteState(const ZygoteState&) = delete;
  ZygoteState& operator=(const ZygoteState&) = delete;

  // Loads and checks the module as the in-process host does. FAILED_PRECONDITION if loading
  // left threads running.
  absl::Status Load();
  // Fork after init: builds the state in this process. Returns whether it left threads, in
  // which case this process must not fork (see above).
  absl::StatusOr<bool> BuildHere();
  // Fork before init: finds or builds the snapshot that workers restore from. `handed`: the
  // memfd the host passed along, if any. Fails as an init fails when the builder's init does.
  absl::Status PrepareBeforeInit(UniqueFd handed);

  // In a worker just forked from this process: its state. The built one (after its post-fork
  // hook), a restore from the mapped snapshot, or an init.
  absl::StatusOr<fnhost_module_state*> StateForWorker() const;

  const fnhost_module_v1& table() const { return module_->table(); }
  // How the state was built, for kReady, kThreadedInit or kBuilt.
  ModuleInfo Report() const;
  // The sealed memfd that holds the snapshot, to pass along with the report; -1 if none.
  int snapshot_fd() const { return snapshot_fd_.get(); }
  // Closes it: the mapping, which workers inherit, stays.
  void CloseSnapshotFd() { snapshot_fd_.reset(); }

 private:
  // Whether the module's snapshot support is to be used.
  bool snapshots() const { return config_.use_snapshots && module_->supports_snapshots(); }
  fnhost_host_init_context Context(CallOutput* error) const {
    return InitContext(&config_.function_name, config_.init_config, error);
  }
  // Runs the module's init here, timed.
  absl::Status InitHere();
  // After an init here: writes the snapshot to the snapshot directory; if that is off or
  // fails and `or_memfd`, to a sealed memfd (snapshot_fd_).
  void PersistSnapshot(bool or_memfd);
  // The identity snapshots of this module and init config carry (identity_).
  absl::Status ComputeIdentity();
  // Restores the state from a matching snapshot in the snapshot directory into state_.
  void TryRestore();
  // Maps the snapshot at snapshot_path_ into snapshot_; false (noted) if there is none.
  bool MapDirectorySnapshot();
  // Forks a builder, waits for its report, and maps the snapshot it wrote.
  absl::Status RunBuilder();
  [[noreturn]] void BuilderMain(pid_t zygote, int channel);
  void Note(SnapshotEventKind kind, std::string_view detail) {
    snapshot_events_.emplace_back(kind, std::string(detail));
  }

  const ZygoteConfig& config_;
  std::unique_ptr<LoadedModule> module_;
  LoadTimings timings_;
  absl::Duration state_init_;
  int init_threads_ = 0;
  ForkPoint fork_point_ = ForkPoint::kAfterInit;
  bool restored_ = false;           // the state (or the mapped snapshot) came from the directory
  bool identity_known_ = false;
  snapshot::ModuleIdentity identity_;
  std::string snapshot_path_;       // in the snapshot directory; empty: none
  std::unique_ptr<MappedSnapshot> snapshot_;  // the state's sections point here
  UniqueFd snapshot_fd_;
  std::vector<std::pair<SnapshotEventKind, std::string>> snapshot_events_;
  fnhost_module_state* state_ = nullptr;  // fork after init: the built state
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_STATE_H_
