// The seccomp-bpf profiles of the sandbox levels, built with libseccomp.
//
// basic: everything is allowed but the escape syscalls (see sandbox_policy.h);
// strict: nothing is allowed but what compute modules need: memory, futexes, clocks, I/O on
//   descriptors they hold, open (paths are Landlock's business), poll and epoll, the worker's
//   own channel (sendmsg, recvmsg), threads (clone with CLONE_THREAD), signals to itself,
//   read-only rlimits, getrandom, exit.
// Both refuse: clone without CLONE_THREAD or with namespace flags, kill and tgkill of another
// process, a new SIGSYS handler (the denial counter's), raising rlimits, prctl's escape hatches
// (parent-death signal, ptracer, subreaper, mm); and where the worker may write nowhere (no
// write_paths), every open for writing and every call that makes, removes or renames a file,
// so that such an attempt is counted (Landlock, which refuses it anyway, counts nothing). clone3 fails with ENOSYS, uncounted, so that
// glibc falls back to clone, whose flags a filter can see.
//
// A denied call traps (SECCOMP_RET_TRAP) into the handler of denial_counters.h, which
// counts it and answers EPERM or kills. A foreign architecture's calls kill the process.
// With count_file_refusals, the opens the profile allows trap too, and the handler retries
// them and counts those Landlock refuses (open_retry.h).
//
// Thread-safety: a SeccompProgram is immutable. Load filters the calling process's threads
// (TSYNC); call it last, after everything else the worker sets up.

#ifndef FNHOST_SRC_SANDBOX_SECCOMP_PROFILE_H_
#define FNHOST_SRC_SANDBOX_SECCOMP_PROFILE_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/sandbox/sandbox_policy.h"

namespace fnhost::sandbox {

struct SeccompProfile {
  SandboxLevel level = SandboxLevel::kStrict;  // kBasic or kStrict
  std::vector<int> allow_syscalls;  // numbers, on top of the level's profile
  bool allow_network = false;       // sockets allowed
  bool deny_open = false;           // strict without Landlock: no open at all
  bool deny_writes = false;         // no write_paths: no open for writing, no file made
  bool count_file_refusals = false; // Landlock in force: opens retried, refusals counted
};

// The profile compiled to classic BPF once (libseccomp's compiler takes a few hundred
// microseconds), loaded by each worker with one system call. The rules that name the worker's
// own pid (kill and tgkill to itself) are compiled against a placeholder that Load replaces.
// With count_file_refusals the program begins with OpenRetryGate, and holds the address of
// the retry instruction: load it in the process that compiled it, or in one forked from it.
class SeccompProgram {
 public:
  static absl::StatusOr<SeccompProgram> Compile(const SeccompProfile& profile);

  // Filters the calling process (all its threads), with `self` as the process that may signal
  // itself. The SIGSYS handler must be installed first.
  absl::Status Load(pid_t self) const;

  size_t instructions() const { return program_.size(); }

 private:
  SeccompProgram(std::vector<sock_filter> program, size_t gate_size)
      : program_(std::move(program)), gate_size_(gate_size) {}
  std::vector<sock_filter> program_;
  size_t gate_size_;  // the OpenRetryGate at the program's start, never patched
};

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SECCOMP_PROFILE_H_
