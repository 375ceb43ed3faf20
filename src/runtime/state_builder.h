// StateBuilder: builds the state of one version of a function's module, the same way wherever
// it runs: in the host process (the in-process backend) and in a zygote or one of its processes
// (process isolation). It loads and checks the module, checks the pool's concurrency against
// the module's, finds the snapshot identity of the module and its init config, restores the
// state from a matching snapshot or else runs the init, writes the state's snapshot after an
// init, and runs the module's post-fork hook in a forked copy of a built state. Every init
// context a module sees is built here (InitStep, with the InitHost it is given: the function's
// host services and logger).
//
// A reload that keeps state: the version being replaced writes its live state's sections to a
// sealed memfd (WriteReloadSnapshot); the new version's builder is given it (SetReloadSource),
// and when both declare the same non-zero state schema, Build restores the new state from it
// with FNHOST_INIT_FLAG_RELOAD instead of running the init. A failed restore is the build's
// error: the reload fails and the old version serves on.
//
// Snapshot files are used only with the module's snapshot support, ModuleConfig::use_snapshots
// and a snapshot directory; a snapshot that does not fit is reported (SnapshotEvents) and the
// state is built by the init. The module digest of a trusted, private snapshot directory spares
// hashing the module on each cold start (see ModuleHashCache).
//
// Ownership: the builder owns the loaded module and the mapped snapshot that a restored state's
// sections point into; states it returns belong to the caller, who destroys them (Unload)
// before the module goes.
//
// Thread-safety: none; one owner at a time (a version's loader, or a single-threaded zygote).
// The module and its states may be called from any thread afterwards, as the ABI allows.

#ifndef FNHOST_SRC_RUNTIME_STATE_BUILDER_H_
#define FNHOST_SRC_RUNTIME_STATE_BUILDER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/clock.h"
#include "fnhost/metrics.h"
#include "fnhost/runtime.pb.h"
#include "fnhost/snapshot.pb.h"
#include "src/common/file_system.h"
#include "src/loader/module_loader.h"
#include "src/runtime/init_step.h"
#include "src/snapshot/mapped_snapshot.h"

namespace fnhost::internal {

// How messages and reports name a snapshot that lives in a sealed memfd.
inline constexpr char kMemfdSnapshotName[] = "(sealed memfd)";

// Where a StateBuilder reports what happened to snapshots: the host's metrics sink, or a
// zygote's start report.
class SnapshotEvents {
 public:
  virtual ~SnapshotEvents() = default;
  // `path`: the snapshot file (kMemfdSnapshotName for a memfd); empty before one was named.
  virtual void OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                               std::string_view detail) = 0;
};

class StateBuilder {
 public:
  // `events` may be null (events are dropped); `init_host` may be null (no host services,
  // init logs to stderr); `clock`, `fs`, `events` and `init_host` must outlive the builder.
  StateBuilder(runtime::ModuleConfig config, Clock& clock, FileSystem& fs,
               SnapshotEvents* events, InitHost* init_host = nullptr);
  ~StateBuilder();

  StateBuilder(const StateBuilder&) = delete;
  StateBuilder& operator=(const StateBuilder&) = delete;

  // The InitHost of the init steps from now on (the function's services, which a backend binds
  // once the module is loaded); null: none.
  void set_init_host(InitHost* init_host) { init_host_ = init_host; }

  // Loads and checks the module (module_loader.h), then the pool's concurrency against the
  // module's: FAILED_PRECONDITION when the config asks for more calls per instance than the
  // module declares. Fills `timings`.
  absl::Status Load(LoadTimings* timings);

  // After Load:
  const LoadedModule& module() const { return *module_; }
  const fnhost_module_v1& table() const { return module_->table(); }
  const runtime::ModuleConfig& config() const { return config_; }
  const std::string& function() const { return config_.function_name(); }
  // Calls one instance serves at once: the config's, else the module's declaration.
  int concurrency() const { return concurrency_; }
  // Whether the module's snapshot support is to be used at all.
  bool snapshots() const;

  // Restore-or-init, in this process: the state restored from a matching snapshot in the
  // snapshot directory, else built by the module's init. An init's error names the module
  // file; a snapshot that cannot be used is reported, never an error.
  struct Built {
    fnhost_module_state* state = nullptr;
    bool restored = false;
    // Restored from the reload source: the state of the version this one replaces.
    bool kept_state = false;
    absl::Duration duration;  // the restore (identity included), or the init
  };
  absl::StatusOr<Built> Build();

  // A reload that keeps state: `fd` is a sealed memfd holding the sections of the replaced
  // version's state (WriteReloadSnapshot), whose schema is `schema`; the caller keeps it open
  // until Build returned. Before Load or after.
  void SetReloadSource(int fd, uint32_t schema) {
    reload_fd_ = fd;
    reload_schema_ = schema;
  }
  // After Load: whether the module's state schema is that of the reload source (non-zero).
  bool KeepsReloadState() const;
  // Maps the reload source as the snapshot restores use, marking restores as reloads; false,
  // and the error in `*status`, when it cannot be mapped.
  bool MapReloadSource(absl::Status* status);
  // Writes `state`'s sections to a new sealed memfd, for the builder of the version that
  // replaces this one (SetReloadSource); the caller owns the descriptor.
  absl::StatusOr<int> WriteReloadSnapshot(const fnhost_module_state* state) const;

  // The steps Build is made of, for a zygote that places them in other processes.
  // Runs the module's init.
  absl::StatusOr<fnhost_module_state*> Init() const;
  // Restores a state from `snapshot` (state_restore, then state_after_restore), which must
  // outlive the state; a reload's when the mapped snapshot is the reload source. The error
  // carries the module's message.
  absl::StatusOr<fnhost_module_state*> Restore(const MappedSnapshot& snapshot) const;
  // The module's post-fork hook on a state built before a fork (state_after_restore).
  absl::Status AfterFork(fnhost_module_state* state) const;

  // The identity snapshots of this module and init config carry, computed once (reading the
  // whole module unless the digest cache has it).
  absl::Status ComputeIdentity();
  const snapshot::ModuleIdentity& identity() const { return identity_; }
  // The snapshot's path in the snapshot directory once the identity is known; empty without
  // a directory.
  const std::string& snapshot_path() const { return snapshot_path_; }

  // The mapped snapshot that restores use (and whose sections a restored state points into):
  // from the snapshot directory, or a sealed memfd. Each returns false, and reports why unless
  // there is none, when it cannot map one.
  bool MapDirectorySnapshot();
  bool MapMemfdSnapshot(int fd);
  const MappedSnapshot* snapshot() const { return snapshot_.get(); }

  // After an init: whether the snapshot directory should receive the state's snapshot.
  bool ShouldWriteSnapshot() const;
  // Writes the state's snapshot to the snapshot directory (or `path`), atomically; reported
  // either way.
  absl::Status WriteSnapshot(const fnhost_module_state* state) {
    return WriteSnapshotTo(state, snapshot_path_);
  }
  absl::Status WriteSnapshotTo(const fnhost_module_state* state, const std::string& path);
  // Writes it to a new sealed memfd, whose descriptor the caller owns; reported either way.
  absl::StatusOr<int> WriteSnapshotToMemfd(const fnhost_module_state* state);

  // Destroys `state` (if not null), then the mapped snapshot, then unloads the module. The
  // builder may Load again afterwards.
  UnloadReport Unload(fnhost_module_state* state);

 private:
  void Report(SnapshotEventKind kind, std::string_view path, std::string_view detail) const;
  // Restores from the directory's snapshot; null when there is none that works (reported).
  fnhost_module_state* RestoreFromDirectory();
  absl::StatusOr<int> CommitToMemfd(const fnhost_module_state* state);

  // Restores from the reload source; `kept_state` in the result.
  absl::StatusOr<Built> BuildFromReloadSource();

  const runtime::ModuleConfig config_;
  Clock& clock_;
  FileSystem& fs_;
  SnapshotEvents* const events_;
  InitHost* init_host_;
  int reload_fd_ = -1;
  uint32_t reload_schema_ = 0;
  uint32_t restore_flags_ = 0;  // FNHOST_INIT_FLAG_RELOAD while the reload source is mapped
  std::unique_ptr<LoadedModule> module_;
  int concurrency_ = 1;
  bool identity_known_ = false;
  snapshot::ModuleIdentity identity_;
  std::string snapshot_path_;
  std::unique_ptr<MappedSnapshot> snapshot_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_STATE_BUILDER_H_
