// Snapshots that live in a sealed memfd instead of a file: what the process isolation mode uses
// when a zygote forks its workers before the module's init (see src/isolation/zygote_state.h)
// and the host has no snapshot directory. The memfd leaves nothing on disk, goes away with the
// last process that holds it or maps it, and is passed between processes as a descriptor.
//
// Sealed (F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL) once written, so nobody, not
// even a module that finds the descriptor, can change it under a process that maps it: a
// mapped snapshot cannot fault (SIGBUS) or change later, and its section checksums need not be
// read again (SectionVerification::kTrust).
//
// Thread-safety: the functions keep no state.

#ifndef FNHOST_SRC_SNAPSHOT_SNAPSHOT_MEMFD_H_
#define FNHOST_SRC_SNAPSHOT_SNAPSHOT_MEMFD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fnhost/snapshot.pb.h"
#include "src/snapshot/mapped_snapshot.h"
#include "src/snapshot/snapshot_writer.h"

namespace fnhost {

// Commits `writer` into a new memfd named after `name` and seals it. Returns the descriptor
// (close-on-exec), which the caller owns.
absl::StatusOr<int> CommitToSealedMemfd(SnapshotFileWriter& writer, const std::string& name);

// Maps the snapshot in `fd`, which must be a memfd sealed as above (FAILED_PRECONDITION
// otherwise), and checks it as MappedSnapshot::Open does, sections aside. `name` stands for it
// in messages. The descriptor stays the caller's.
absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenSealedMemfd(
    int fd, const std::string& name, const snapshot::ModuleIdentity& expected);

}  // namespace fnhost

#endif  // FNHOST_SRC_SNAPSHOT_SNAPSHOT_MEMFD_H_
