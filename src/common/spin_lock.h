// LockSpinningFirst: takes a std::mutex, trying it briefly in a spin before blocking.
//
// glibc's default mutex puts a contended locker to sleep in the kernel at once, and waking it
// again costs tens of microseconds on a virtual machine: far more than the few dozen
// nanoseconds that the pool's warm path holds its lock. Spinning for about a microsecond
// first turns most contention into a short wait, and still blocks when the holder was
// descheduled. The mutex stays a std::mutex, so condition variables and ThreadSanitizer work
// with it as before.
//
// Thread-safety: as std::mutex.

#ifndef FNHOST_SRC_COMMON_SPIN_LOCK_H_
#define FNHOST_SRC_COMMON_SPIN_LOCK_H_

#include <mutex>

namespace fnhost::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline std::unique_lock<std::mutex> LockSpinningFirst(std::mutex& mu) {
  constexpr int kSpins = 64;
  for (int i = 0; i < kSpins; ++i) {
    if (mu.try_lock()) return std::unique_lock<std::mutex>(mu, std::adopt_lock);
    CpuRelax();
  }
  return std::unique_lock<std::mutex>(mu);
}

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_COMMON_SPIN_LOCK_H_
