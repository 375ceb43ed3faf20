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
#include "fnhost/zygote.pb.h"
#include "src/common/unique_fd.h"
#include "src/isolation/zygote_options.h"
#include "src/isolation/zygote_services.h"
#include "src/loader/module_loader.h"
#include "src/runtime/state_builder.h"

namespace fnhost::internal {

// Threads of this process, as /proc/self/task lists them.
int CountThreads();

class ZygoteState {
 public:
  explicit ZygoteState(const zygote::ZygoteConfig& config);
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

  // A reload that keeps state (before BuildHere or PrepareBeforeInit): the live state of the
  // version being replaced, with the config's reload_schema. Used when the module declares the
  // same schema: the state (or every worker's) is then restored from it, never by the init.
  void SetReloadSource(UniqueFd fd);
  // In a worker: its state's sections in a new sealed memfd, for the version that replaces
  // this one.
  absl::StatusOr<int> WriteReloadSnapshot(const fnhost_module_state* state) const {
    return builder_.WriteReloadSnapshot(state);
  }

  // In a worker just forked from this process: its state. The built one (after its post-fork
  // hook), a restore from the mapped snapshot, or an init.
  absl::StatusOr<fnhost_module_state*> StateForWorker() const;

  const fnhost_module_v1& table() const { return builder_.table(); }
  const std::string& function() const { return builder_.function(); }
  // How the state was built, for kReady, kThreadedInit or kBuilt.
  zygote::StartReport Report() const;
  // The sealed memfd that holds the snapshot, to pass along with the report; -1 if none.
  int snapshot_fd() const { return snapshot_fd_.get(); }
  // Closes it: the mapping, which workers inherit, stays.
  void CloseSnapshotFd() { snapshot_fd_.reset(); }

 private:
  // Collects the builder's snapshot events for the report.
  class Notes : public SnapshotEvents {
   public:
    void OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                         std::string_view detail) override {
      zygote::SnapshotNote& note = *events.Add();
      note.set_kind(static_cast<uint32_t>(kind));
      note.set_path(std::string(path));
      note.set_detail(std::string(detail));
    }
    google::protobuf::RepeatedPtrField<zygote::SnapshotNote> events;
  };

  // Runs the module's init here, timed.
  absl::Status InitHere();
  // After BuildHere: writes the snapshot a successor, or the next cold start, starts from.
  void PersistAfterBuild(bool threaded);
  // After an init here: writes the snapshot to the snapshot directory; if that is off or
  // fails and `or_memfd`, to a sealed memfd (snapshot_fd_).
  void PersistSnapshot(bool or_memfd);
  // Forks a builder, waits for its report, and maps the snapshot it wrote.
  absl::Status RunBuilder();
  [[noreturn]] void BuilderMain(pid_t zygote, int channel);

  Notes notes_;
  ZygoteServices services_;
  StateBuilder builder_;
  UniqueFd reload_fd_;       // the reload source, if any
  bool kept_state_ = false;  // the state (or the mapped snapshot) is the reload source
  LoadTimings timings_;
  absl::Duration state_init_;
  int init_threads_ = 0;
  ForkPoint fork_point_ = ForkPoint::kAfterInit;
  bool restored_ = false;  // the state (or the mapped snapshot) came from the directory
  UniqueFd snapshot_fd_;
  fnhost_module_state* state_ = nullptr;  // fork after init: the built state
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_STATE_H_
