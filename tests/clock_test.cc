// Tests of the clocks' interval timing (Ticks / TicksToDuration), which times invocations.

#include <chrono>

#include "fnhost/clock.h"
#include "gtest/gtest.h"

namespace fnhost {
namespace {

TEST(FakeClockTest, TicksMoveExactlyWithAdvance) {
  FakeClock clock;
  const int64_t before = clock.Ticks();
  clock.Advance(absl::Milliseconds(1234));
  EXPECT_EQ(clock.TicksToDuration(clock.Ticks() - before), absl::Milliseconds(1234));
  clock.Advance(absl::Nanoseconds(7));
  EXPECT_EQ(clock.TicksToDuration(clock.Ticks() - before), absl::Nanoseconds(1'234'000'007));
}

// The real clock's ticks may come from the CPU's time-stamp counter, converted at a rate it
// calibrates itself. An interval both the ticks and the monotonic clock bracket must convert
// to about the same length: a wrong rate would be off by the ratio of two frequencies.
TEST(RealClockTest, TicksConvertToTheMonotonicClocksDuration) {
  Clock* clock = Clock::Real();
  for (absl::Duration spin : {absl::Microseconds(200), absl::Milliseconds(5)}) {
    const absl::Time outer_start = clock->Now();
    const int64_t ticks_start = clock->Ticks();
    while (clock->Now() - outer_start < spin) {
    }
    const int64_t ticks_end = clock->Ticks();
    const absl::Duration outer = clock->Now() - outer_start;
    const absl::Duration measured = clock->TicksToDuration(ticks_end - ticks_start);
    EXPECT_GT(measured, absl::ZeroDuration());
    // The ticks run inside the bracket; the slack covers the rate still being estimated.
    EXPECT_LE(measured, outer * 1.1) << spin;
    EXPECT_GE(measured, spin * 0.9) << spin;
  }
}

TEST(RealClockTest, TicksNeverGoBackOnOneThread) {
  Clock* clock = Clock::Real();
  int64_t last = clock->Ticks();
  for (int i = 0; i < 100000; ++i) {
    const int64_t now = clock->Ticks();
    ASSERT_GE(now, last);
    last = now;
  }
}

}  // namespace
}  // namespace fnhost
