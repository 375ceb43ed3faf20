// Starts helper processes (zygotes) with posix_spawn, always from one long-lived thread.
//
// Why a thread of its own: PR_SET_PDEATHSIG, which a zygote sets so that it dies with the
// host, fires when the *thread* that created the child exits, not the process. A zygote spawned
// straight from a server's request thread would be killed the day that thread leaves its pool.
// Spawning from a thread that lives as long as the process makes the parent-death signal mean
// "the host process is gone". posix_spawn (vfork + exec) is safe in a multithreaded process,
// unlike fork.
//
// Thread-safe.

#ifndef FNHOST_SRC_ISOLATION_PROCESS_SPAWNER_H_
#define FNHOST_SRC_ISOLATION_PROCESS_SPAWNER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fnhost::internal {

// Runs `executable` with arguments `args` (argv[1..]) as a child of this process, in a process
// group of its own (terminal signals meant for the host do not reach it), with default signal
// dispositions, an empty signal mask, stdin from /dev/null, and no other descriptors open but
// stdout, stderr and `channel_fd`, which it finds as kChildChannelFd; its environment is this
// process's, with glibc's malloc on transparent huge pages (GLIBC_TUNABLES, see the .cc).
// Returns its pid; the caller reaps it.
absl::StatusOr<pid_t> SpawnHelper(const std::string& executable,
                                  const std::vector<std::string>& args, int channel_fd);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_PROCESS_SPAWNER_H_
