#include "fnhost/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace fnhost {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() override {
    return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
  absl::Time WallNow() override { return absl::Now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 absl::Time deadline) override {
    if (deadline == absl::InfiniteFuture()) {
      cv.wait(lock);
      return;
    }
    absl::Duration left = deadline - Now();
    if (left <= absl::ZeroDuration()) return;
    cv.wait_for(lock, absl::ToChronoNanoseconds(left));
  }
};

}  // namespace

Clock* Clock::Real() {
  static Clock* const kReal = new RealClock();
  return kReal;
}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() {
  std::lock_guard<std::mutex> lock(mutex_);
  return now_;
}

absl::Time FakeClock::WallNow() { return Now(); }

void FakeClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          absl::Time deadline) {
  // Fake time moves only by Advance, which cannot notify every condition variable a waiter
  // might use; waking every millisecond of real time to re-check keeps waiters responsive
  // without the test ever sleeping.
  if (Now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(1));
}

void FakeClock::Advance(absl::Duration by) {
  std::lock_guard<std::mutex> lock(mutex_);
  now_ += by;
}

void FakeClock::SetTime(absl::Time to) {
  std::lock_guard<std::mutex> lock(mutex_);
  now_ = to;
}

}  // namespace fnhost
