#include "fnhost/clock.h"

#include <atomic>
#include <chrono>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "absl/time/clock.h"

namespace fnhost {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The time-stamp counter, for timing invocations: reading it costs about a third of a
// steady_clock read in a virtual machine (where the clock's vDSO scales the same counter
// through the hypervisor's page), and that difference is a quarter of the host's warm path.
// Only used where the CPU says the counter is invariant (constant rate, not stopped in sleep
// states, which also keeps cores in step); elsewhere Ticks() falls back to steady_clock. Its
// rate is calibrated against steady_clock over the process's first 100 ms; until then each
// conversion measures the rate so far, at the cost of one clock read.
class TimeStampCounter {
 public:
  TimeStampCounter() : usable_(Invariant()), origin_ticks_(Read()), origin_nanos_(SteadyNanos()) {}

  bool usable() const { return usable_; }

  static int64_t Read() {
#if defined(__x86_64__)
    return static_cast<int64_t>(__rdtsc());
#else
    return SteadyNanos();
#endif
  }

  absl::Duration ToDuration(int64_t ticks) {
    double nanos_per_tick = nanos_per_tick_.load(std::memory_order_relaxed);
    if (nanos_per_tick == 0) nanos_per_tick = Calibrate();
    return absl::Nanoseconds(static_cast<int64_t>(static_cast<double>(ticks) * nanos_per_tick));
  }

 private:
  static bool Invariant() {
#if defined(__x86_64__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (edx & (1u << 8)) != 0;
#else
    return false;
#endif
  }

  double Calibrate() {
    constexpr int64_t kCalibrationNanos = 100'000'000;
    const int64_t ticks = Read() - origin_ticks_;
    const int64_t nanos = SteadyNanos() - origin_nanos_;
    if (ticks <= 0 || nanos <= 0) return 1.0;  // cannot happen with an invariant counter
    const double estimate = static_cast<double>(nanos) / static_cast<double>(ticks);
    if (nanos >= kCalibrationNanos) nanos_per_tick_.store(estimate, std::memory_order_relaxed);
    return estimate;
  }

  const bool usable_;
  const int64_t origin_ticks_;
  const int64_t origin_nanos_;
  std::atomic<double> nanos_per_tick_{0};  // 0 until calibrated
};

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::FromUnixNanos(SteadyNanos()); }
  absl::Time WallNow() override { return absl::Now(); }
  int64_t Ticks() override {
    return counter_.usable() ? TimeStampCounter::Read() : SteadyNanos();
  }
  absl::Duration TicksToDuration(int64_t ticks) override {
    return counter_.usable() ? counter_.ToDuration(ticks) : absl::Nanoseconds(ticks);
  }
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

 private:
  TimeStampCounter counter_;
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
