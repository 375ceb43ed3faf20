// Cgroups for workers: a memory and a pids limit per worker, in the cgroup hierarchies this
// process may delegate (v2, or v1 memory and pids as found on hybrid machines).
//
// The parent of the workers (the zygote) owns a WorkerCgroups per function: a directory
// `fnhost-<parent pid>-<function>` beneath the parent's own cgroup in each hierarchy it uses,
// so that whatever limits the parent is under still hold for its workers. Before each fork it
// prepares a per-worker directory with the limits written (PrepareWorker) and opens that
// directory's cgroup.procs, through which a process writes itself in (JoinCgroups): the zygote
// does, so that the worker is born there (zygote_sandbox.h). After the worker is reaped, Release
// reports whether the memory limit's OOM killer ended it, and keeps the directory for the next
// worker when it is empty and holds (almost) no charged memory; else it removes it. Making and
// removing a cgroup costs the zygote about 0.2 ms each, on the spawn path's CPU. A kept one
// carries its counters' history, which the ticket's baselines subtract, and the control files
// the zygote reads and writes stay open (held_files.h). Only where the peak can be reset too
// (v1 memory, or a hierarchy without the memory limit): a v2 memory.peak cannot.
//
// A process may create cgroups beneath its own only if it may write there (root, or a
// delegated cgroup). In a v2 hierarchy a controller reaches child cgroups only if the parent's
// cgroup.subtree_control enables it, which a cgroup with processes in it cannot do (the "no
// internal processes" rule): such a host runs from a delegated cgroup, or falls back to rlimits.
//
// Thread-safety: a WorkerCgroups belongs to one thread (the zygote's).

#ifndef FNHOST_SRC_SANDBOX_CGROUPS_H_
#define FNHOST_SRC_SANDBOX_CGROUPS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/sandbox/held_files.h"
#include "src/sandbox/sandbox_support.h"

namespace fnhost::sandbox {

// Finds `controller` ("memory", "pids") in this process's cgroups: a v2 hierarchy whose
// cgroup.controllers lists it, else the v1 hierarchy that has it, and checks that a child
// cgroup can be made here (by making and removing one).
CgroupController FindDelegatableController(std::string_view controller);

struct CgroupLimits {
  uint64_t memory_bytes = 0;  // 0: no memory cgroup
  uint64_t pids = 0;          // 0: no pids cgroup
};

// One worker's place, made by the parent before the fork. The worker inherits the
// descriptors; both sides close their copies (CloseDescriptors) once the worker has joined
// or the fork failed.
struct CgroupTicket {
  std::vector<std::string> directories;  // one per hierarchy
  std::vector<int> procs_fds;            // their cgroup.procs, opened for writing
  HeldFiles held;  // the control files the parent reads and writes, while it has the ticket
  bool limits_memory = false;
  bool limits_pids = false;
  // The counters when this worker got the cgroups: a kept cgroup counts its earlier workers'.
  uint64_t oom_kills_before = 0;
  uint64_t forks_refused_before = 0;

  void CloseDescriptors();
};

// What the cgroups saw of a worker that ended.
struct CgroupExit {
  bool oom_killed = false;       // the memory limit's OOM killer ended a process of it
  uint64_t forks_refused = 0;    // forks or clones failed at the pids limit
  uint64_t peak_memory_bytes = 0;
};

class WorkerCgroups {
 public:
  // Creates the function's directory in each hierarchy that `limits` needs and `support`
  // found delegatable. A limit whose controller is missing is left out (limits_memory() or
  // limits_pids() false): the worker then falls back to an rlimit and reports it.
  static absl::StatusOr<std::unique_ptr<WorkerCgroups>> Create(std::string_view function,
                                                               const CgroupLimits& limits,
                                                               const SandboxSupport& support);
  // Removes what is left of the directories (empty ones only: a cgroup with live processes
  // stays, and a later Create sweeps it once its processes are gone).
  ~WorkerCgroups();

  bool limits_memory() const;
  bool limits_pids() const;
  // The descriptors of held control files are at or above this (0: none are held). A forked
  // worker closes them all before it runs module code (held_files.h).
  int descriptor_floor() const { return descriptor_floor_; }

  // The next worker's directories: a kept one, or new ones with the limits written; opens
  // their cgroup.procs.
  absl::StatusOr<CgroupTicket> PrepareWorker();

  // After the worker was reaped (and whatever it forked): reads its fate, then keeps its
  // directories for a later worker or removes them. Closes the ticket's descriptors if still
  // open, and leaves the ticket without directories.
  CgroupExit Release(CgroupTicket& ticket);

  // Moves the calling process back into the cgroups the function's directories are in (the
  // parent's own), for a parent that waited in a worker's cgroups (see JoinCgroups).
  absl::Status ReturnToParentCgroups();

 private:
  struct Hierarchy {
    int version = 0;
    std::string directory;  // the function's directory
    bool memory = false;    // limits memory (a v2 hierarchy may limit both)
    bool pids = false;
  };
  WorkerCgroups() = default;
  absl::Status WriteLimits(const Hierarchy& hierarchy, const std::string& directory) const;
  // Opens a kept ticket's cgroup.procs and resets its memory peak.
  absl::Status Reopen(CgroupTicket& ticket) const;
  // Whether a released worker's directories can serve another: no process left in them, and
  // at most 1/16 of the memory limit still charged (files the worker left in memory, such as
  // a snapshot memfd the host holds, would shrink the next worker's limit).
  bool Reusable(const CgroupTicket& ticket) const;
  void Remove(CgroupTicket& ticket) const;
  // Whether a released cgroup can be kept at all: not with a v2 memory limit (memory.peak
  // cannot be reset).
  bool Keepable() const;
  // Holds the control files of a new worker directory that Reopen and Release use, if its
  // cgroup can be kept.
  void HoldFiles(const Hierarchy& hierarchy, const std::string& directory,
                 HeldFiles* held) const;

  std::string function_;
  CgroupLimits limits_;
  std::vector<Hierarchy> hierarchies_;
  uint64_t next_worker_ = 0;
  int descriptor_floor_ = 0;
  std::vector<CgroupTicket> kept_;  // released, empty, limits still written
};

// Moves the calling process into the ticket's cgroups and closes the descriptors: the worker,
// before module code runs; or its parent before the fork, so that the worker is born in them.
// Moving a process between cgroups waits for an RCU grace period unless one passed recently
// (milliseconds on a VM), which a parent can pay ahead of the spawn; fork itself places the
// child in its parent's cgroups at no such cost.
absl::Status JoinCgroups(CgroupTicket& ticket);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_CGROUPS_H_
