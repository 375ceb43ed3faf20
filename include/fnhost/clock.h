// Clock: the only way fnhost reads time or waits for it, so that tests can drive time by hand.
//
// Host code never calls std::chrono or absl::Now() directly: keep-alive, deadlines, schedules
// and latency measurements all go through a Clock. RealClock reads the monotonic clock (for
// durations and deadlines), the wall clock (for daily schedules) and, to time invocations,
// the CPU's time-stamp counter where it is invariant. FakeClock only moves when a test
// advances it. Both are thread-safe.

#ifndef FNHOST_CLOCK_H_
#define FNHOST_CLOCK_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/time/time.h"

namespace fnhost {

class Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic time: never goes back. Its epoch is unspecified; only differences mean anything.
  virtual absl::Time Now() = 0;

  // Wall-clock time, for schedules that follow the time of day.
  virtual absl::Time WallNow() = 0;

  // A cheap reading for timing short intervals such as one invocation: only the difference of
  // two readings means anything, as TicksToDuration converts it. Default: the nanoseconds of
  // Now(), so that a clock that overrides only Now() times intervals by it.
  virtual int64_t Ticks() { return absl::ToUnixNanos(Now()); }
  virtual absl::Duration TicksToDuration(int64_t ticks) { return absl::Nanoseconds(ticks); }

  // Waits on `cv` (whose mutex `lock` holds) until it is notified or, as this clock sees it,
  // `deadline` passes. May return early (as condition variables do): callers re-check.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         absl::Time deadline) = 0;

  // The process-wide real clock.
  static Clock* Real();
};

// A clock that tests move by hand. Waiters see a new time within a millisecond of an Advance.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50));

  absl::Time Now() override;
  absl::Time WallNow() override;
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 absl::Time deadline) override;

  void Advance(absl::Duration by);
  void SetTime(absl::Time to);

 private:
  std::mutex mutex_;
  absl::Time now_;
};

}  // namespace fnhost

#endif  // FNHOST_CLOCK_H_
