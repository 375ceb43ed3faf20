// Which snapshot file belongs to a loaded module, and whether it may be used: the identity a
// snapshot of the module's state must carry, the module digest cache that spares hashing the
// module on every cold start, the file's name in a snapshot directory, and opening it with the
// checks its directory calls for. Calling the module (state_restore, state_snapshot) is the
// runtime's part (src/runtime/state_builder.h).
//
// A snapshot is used only when its module identity (build id, file hash, ABI and SDK versions,
// module name and version, init-config hash) matches the loaded module exactly; anything else
// is reported and the state is built by a full init.
//
// Thread-safe: no shared state in memory; entries of the module digest cache (ModuleHashCache)
// are replaced atomically by rename, and concurrent writers of one entry write the same bytes.

#ifndef FNHOST_SRC_SNAPSHOT_STATE_SNAPSHOTS_H_
#define FNHOST_SRC_SNAPSHOT_STATE_SNAPSHOTS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/snapshot.pb.h"
#include "src/loader/module_loader.h"
#include "src/snapshot/mapped_snapshot.h"

namespace fnhost::internal {

// Where IdentityOf may remember a module file's SHA-256 between processes. Hashing the whole
// module is most of a small restore (about 2 ms for a 2.6 MB module, against well under 1 ms
// for the rest), and a cold start in a new process has nothing else to reuse it from. The
// loader hashes the very bytes it loaded (LoadedModule::sha256), so the file is read once per
// load; the cache spares even that hash.
//
// An entry is keyed by the file's device, inode, size, modification and change times (ns) when
// the loader read it, and is used only when all of them match and the file did not change while
// it was read, so a module rebuilt in place or replaced by another file is hashed again: every
// write, truncate, chmod, rename onto or link of a file sets its change time to the current
// time, and no system call sets it back (only stepping the system clock back could). An entry
// is written only if the change time is more than kModuleHashRacyWindow before `now`, so that a
// change in the same timestamp granule (coarse kernel clock, or a filesystem's coarse
// timestamps) as the recorded one cannot go unnoticed (git's "racily clean" rule). Entries live
// in a directory that only this user can write, as snapshots do, and are read only from files
// this user owns and nobody else can write.
struct ModuleHashCache {
  // A private directory for the entries; empty: no cache, always hash.
  std::string directory;
  // The wall time when the hash is taken; the host's clock (the real one in production).
  absl::Time now;
};

inline constexpr absl::Duration kModuleHashRacyWindow = absl::Seconds(2);

// The cache a host keeps in its snapshot directory: used only when the host trusts its private
// snapshot directory (`trust`) and `snapshot_dir` is one (IsPrivateDirectory), the condition
// under which it also trusts the snapshots there. Otherwise no cache.
ModuleHashCache TrustedModuleHashCache(const std::string& snapshot_dir, bool trust,
                                       absl::Time now);

// The identity a snapshot of `module`'s state, built from `init_config`, must carry.
absl::StatusOr<snapshot::ModuleIdentity> IdentityOf(const LoadedModule& module,
                                                    std::string_view init_config,
                                                    const ModuleHashCache& cache = {});

// What a module file's contents contribute to its identity.
struct ModuleFileDigest {
  std::string build_id;  // lower-case hex of the ELF build id; empty if the file has none
  std::string sha256;    // lower-case hex
};

// The digest of the bytes `module` was loaded from: the SHA-256 from `cache` when it holds a
// matching entry; otherwise hashed from the loaded copy, and remembered in `cache` if it has a
// directory.
absl::StatusOr<ModuleFileDigest> DigestModule(const LoadedModule& module,
                                              const ModuleHashCache& cache);

// The name of the snapshot file of a function's state: one per function, module build and
// init config, so that versions never overwrite each other's snapshots.
std::string SnapshotFileName(std::string_view function, const snapshot::ModuleIdentity& identity);

// Where the snapshot of a function's state lives: `directory`/SnapshotFileName(...).
std::string SnapshotPath(const std::string& directory, std::string_view function,
                         const snapshot::ModuleIdentity& identity);

// Maps the snapshot at `path` and checks it: the identity always, the section checksums unless
// `trust_private_directory` and the file and its directory are private. NOT_FOUND when there is
// no snapshot; any other error says why it cannot be used.
absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenStateSnapshot(
    const std::string& path, const snapshot::ModuleIdentity& identity,
    bool trust_private_directory);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_SNAPSHOT_STATE_SNAPSHOTS_H_
