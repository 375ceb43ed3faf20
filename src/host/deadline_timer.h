// DeadlineTimer: runs a target's OnDeadline when a time on the host's Clock passes, for the
// deadlines of asynchronous calls (the queue's timeout, CallOptions::deadline). One thread,
// started with the first Arm, waits through Clock::WaitUntil, so a FakeClock drives it as it
// drives every other wait of the host.
//
// Thread-safety: thread-safe. OnDeadline runs on the timer's thread, without the timer's lock,
// holding a reference to the target (Ref/Unref), so that Disarm racing with it is safe.

#ifndef FNHOST_SRC_HOST_DEADLINE_TIMER_H_
#define FNHOST_SRC_HOST_DEADLINE_TIMER_H_

#include <condition_variable>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "fnhost/clock.h"
#include "src/common/mutex.h"

namespace fnhost::internal {

class DeadlineTimer {
 public:
  class Target {
   public:
    virtual void OnDeadline() = 0;
    virtual void Ref() = 0;
    virtual void Unref() = 0;

   protected:
    ~Target() = default;
  };
  // Where a target stands in the timer; one per armed deadline, owned by the target.
  struct Entry {
    Target* target = nullptr;
    bool armed = false;
    std::multimap<absl::Time, Entry*>::iterator at;
  };

  explicit DeadlineTimer(Clock* clock) : clock_(clock) {}
  // Joins the thread; deadlines still armed are dropped (their references released).
  ~DeadlineTimer();

  // OnDeadline of `target` runs at `when`, unless Disarm comes first. `entry` must not be
  // armed already.
  void Arm(Target* target, absl::Time when, Entry* entry);
  // Disarms `entry`; false when it was not armed (it fired, or never was).
  bool Disarm(Entry* entry);

 private:
  void Loop();

  Clock* const clock_;
  Mutex mu_;
  std::condition_variable cv_;
  std::multimap<absl::Time, Entry*> armed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_DEADLINE_TIMER_H_
