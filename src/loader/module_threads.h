// Finds the threads of this process that may still run a module's code, so that the loader
// never unmaps code under a live thread (dlclose of a module whose thread pool outlived its
// state crashes the host when a pool thread wakes up).
//
// A thread blocked in the kernel (a futex wait, a sleep, a read) shows its stack pointer and
// program counter in /proc/self/task/TID/syscall. Its stack, from that pointer to the end of
// its mapping, holds a return address into every function it is inside of, and the top of a
// thread's stack mapping holds glibc's thread descriptor with its start routine: a word that
// points into the module's executable segments means the thread would run module code again.
// A thread that keeps running cannot be inspected this way; one that already existed when the
// module was loaded (the host's own threads) cannot have been started by it, and is ignored,
// while a newer one is watched (for up to 200 ms, longer than thread pools spin before they
// sleep) until it blocks or exits, and counts as inside the module if it never does.
//
// The check is conservative: a stale code address in a live stack slot keeps a module loaded
// that could have gone (a leak, never a crash). Thread-safe; reads only /proc and stacks.

#ifndef FNHOST_SRC_LOADER_MODULE_THREADS_H_
#define FNHOST_SRC_LOADER_MODULE_THREADS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fnhost {

struct CodeRange {
  uintptr_t begin = 0;
  uintptr_t end = 0;  // exclusive
};

// A thread that may still run the module's code, and what showed it.
struct ThreadInModule {
  pid_t tid = 0;
  std::string why;  // e.g. "has the module's code on its stack"
};

// The last thread id the kernel handed out in this process's PID namespace; threads created
// later have larger ids until the ids wrap around. 0 if the kernel does not say.
pid_t LastThreadId();

// The threads other than the caller that may run code in `code`. Running threads are watched
// only if their id is above `newer_than` (from LastThreadId() at load; 0: all of them).
absl::StatusOr<std::vector<ThreadInModule>> ThreadsInModule(const std::vector<CodeRange>& code,
                                                            pid_t newer_than);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_THREADS_H_
