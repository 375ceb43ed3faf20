// Mutex and MutexLock: std::mutex with the lock annotations that clang's -Wthread-safety checks
// (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...), as LevelDB's port::Mutex does. It stays
// a std::mutex underneath, so std::condition_variable and the Clock's WaitUntil work with it,
// and ThreadSanitizer sees it (Debian's Abseil is not built with TSan, so absl::Mutex is not
// used; see the README's section on sanitizers).
//
// MutexLock may take the lock spinning first: glibc's mutex puts a contended locker to sleep in
// the kernel at once, and waking it costs tens of microseconds on a virtual machine, far more
// than the few dozen nanoseconds a pool's warm path holds its lock. About a microsecond of
// tries first turns most contention into a short wait, and still blocks when the holder was
// descheduled.
//
// Thread-safety: as std::mutex.

#ifndef FNHOST_SRC_COMMON_MUTEX_H_
#define FNHOST_SRC_COMMON_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"
#include "src/common/cpu_relax.h"

namespace fnhost::internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope; Unlock and Lock release and take it again inside the scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  enum class Spin { kNo, kFirst };

  explicit MutexLock(Mutex& mu, Spin spin = Spin::kNo) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : lock_(Take(mu.mu_, spin)) {}
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {}

  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { lock_.lock(); }

  // For a condition variable's wait (directly, or through Clock::WaitUntil), which releases
  // the mutex while it waits and holds it again when it returns.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  static std::unique_lock<std::mutex> Take(std::mutex& mu, Spin spin) {
    if (spin == Spin::kFirst) {
      constexpr int kSpins = 64;
      for (int i = 0; i < kSpins; ++i) {
        if (mu.try_lock()) return std::unique_lock<std::mutex>(mu, std::adopt_lock);
        CpuRelax();
      }
    }
    return std::unique_lock<std::mutex>(mu);
  }

  std::unique_lock<std::mutex> lock_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_COMMON_MUTEX_H_
