// How the host builds a module's state from a snapshot, and writes one after an init.
//
// A snapshot is used only when its module identity (build id, file hash, ABI and SDK versions,
// module name and version, init-config hash) matches the loaded module exactly; anything else
// is reported and the state is built by a full init. Thread-safe: no shared state.

#ifndef FNHOST_SRC_HOST_STATE_SNAPSHOTS_H_
#define FNHOST_SRC_HOST_STATE_SNAPSHOTS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fnhost/abi.h"
#include "fnhost/snapshot.pb.h"
#include "src/common/file_system.h"
#include "src/loader/module_loader.h"
#include "src/snapshot/mapped_snapshot.h"

namespace fnhost::internal {

// The identity a snapshot of `module`'s state, built from `init_config`, must carry.
absl::StatusOr<snapshot::ModuleIdentity> IdentityOf(const LoadedModule& module,
                                                    std::string_view init_config);

// The name of the snapshot file of a function's state: one per function, module build and
// init config, so that versions never overwrite each other's snapshots.
std::string SnapshotFileName(std::string_view function, const snapshot::ModuleIdentity& identity);

// Where the snapshot of a function's state lives: `directory`/SnapshotFileName(...).
std::string SnapshotPath(const std::string& directory, std::string_view function,
                         const snapshot::ModuleIdentity& identity);

// A restored state and the mapping its sections point into (which must outlive the state).
struct RestoredState {
  std::unique_ptr<MappedSnapshot> snapshot;
  fnhost_module_state* state = nullptr;
};

// Maps the snapshot at `path`, checks it and calls the module's state_restore and
// state_after_restore. NOT_FOUND when there is no snapshot; any other error says why it was
// not used.
absl::StatusOr<RestoredState> RestoreState(const fnhost_module_v1& table,
                                           const fnhost_host_init_context& context,
                                           const std::string& path,
                                           const snapshot::ModuleIdentity& identity,
                                           bool trust_private_directory);

// Asks the module for its sections and writes them atomically to `path`.
absl::Status WriteStateSnapshot(const fnhost_module_v1& table, const fnhost_module_state* state,
                                std::string_view function, FileSystem* fs,
                                const std::string& path,
                                const snapshot::ModuleIdentity& identity, absl::Time now);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_STATE_SNAPSHOTS_H_
