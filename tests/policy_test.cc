// Tests of the keep-alive policies (fixed, scheduled, hybrid), the policy spec syntax, and the
// decisions KeepAliveController derives from them. All times are passed in: no clock, no sleep.

#include <cmath>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/policy/fixed_policy.h"
#include "src/policy/hybrid_policy.h"
#include "src/policy/keep_alive_controller.h"
#include "src/policy/keep_alive_policy.h"
#include "src/policy/scheduled_policy.h"

namespace fnhost {
namespace {

using ::testing::HasSubstr;
using Mode = HybridPolicy::Mode;

// Monday 2024-01-01 00:00 UTC: wall and monotonic time alike in these tests.
const absl::Time kT0 = absl::FromCivil(absl::CivilSecond(2024, 1, 1, 0, 0, 0), absl::UTCTimeZone());

absl::Time At(absl::Duration offset) { return kT0 + offset; }

KeepAliveOptions Parse(std::string_view spec) {
  absl::StatusOr<KeepAliveOptions> options = ParsePolicySpec(spec);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : KeepAliveOptions{};
}

// ---- Spec syntax ----------------------------------------------------------------------------

TEST(ParsePolicySpecTest, Fixed) {
  KeepAliveOptions options = Parse("fixed:10m");
  EXPECT_EQ(options.kind, KeepAliveOptions::Kind::kFixed);
  EXPECT_EQ(options.idle_timeout, absl::Minutes(10));
  EXPECT_TRUE(options.unload_when_idle);
  EXPECT_EQ(Parse("fixed:0").idle_timeout, absl::ZeroDuration());
  EXPECT_EQ(Parse("fixed:1h30m").idle_timeout, absl::Minutes(90));
  EXPECT_FALSE(Parse("fixed:5m,keep-loaded").unload_when_idle);
}

TEST(ParsePolicySpecTest, HybridAndScheduled) {
  EXPECT_EQ(Parse("hybrid").kind, KeepAliveOptions::Kind::kHybrid);
  EXPECT_EQ(Parse("hybrid").cold_start_cost_gb_s, KeepAliveOptions().cold_start_cost_gb_s);
  EXPECT_EQ(Parse("hybrid,cold-start-cost=64.5").cold_start_cost_gb_s, 64.5);
  KeepAliveOptions options =
      Parse("scheduled:5m,window=08:00-18:30,window=22:00-06:00,instances=3,every=15m");
  EXPECT_EQ(options.kind, KeepAliveOptions::Kind::kScheduled);
  EXPECT_EQ(options.idle_timeout, absl::Minutes(5));
  ASSERT_EQ(options.daily_windows.size(), 2u);
  EXPECT_EQ(options.daily_windows[0].begin_minute, 8 * 60);
  EXPECT_EQ(options.daily_windows[0].end_minute, 18 * 60 + 30);
  EXPECT_EQ(options.daily_windows[1].begin_minute, 22 * 60);
  EXPECT_EQ(options.daily_windows[1].end_minute, 6 * 60);
  EXPECT_EQ(options.scheduled_instances, 3);
  EXPECT_EQ(options.warm_every, absl::Minutes(15));
  EXPECT_EQ(Parse("scheduled:1m,window=20:00-24:00").daily_windows[0].end_minute, 24 * 60);
}

TEST(ParsePolicySpecTest, FormatRoundTrips) {
  for (const char* spec : {"fixed:10m", "fixed:0", "fixed:1h30m,keep-loaded", "hybrid",
                           "hybrid,keep-loaded", "hybrid,cold-start-cost=1024,keep-loaded",
                           "fixed:20m,by-memory", "scheduled:5m,window=01:00-02:00,by-memory",
                           "scheduled:5m,window=08:00-18:30,window=22:00-06:00,instances=3,"
                           "every=15m"}) {
    EXPECT_EQ(FormatPolicySpec(Parse(spec)), spec);
  }
  EXPECT_EQ(MakeKeepAlivePolicy(Parse("fixed:20m"))->Describe(), "fixed:20m");
  EXPECT_EQ(MakeKeepAlivePolicy(Parse("scheduled:1m,window=01:00-02:00"))->Describe(),
            "scheduled:1m,window=01:00-02:00");
}

TEST(ParsePolicySpecTest, RejectsBadSpecsNamingTheCause) {
  const struct {
    const char* spec;
    const char* cause;
  } cases[] = {
      {"", "kind is not one of"},
      {"lru", "kind is not one of"},
      {"hybrid:5m", "kind is not one of"},
      {"fixed", "needs a non-negative idle timeout"},
      {"fixed:", "needs a non-negative idle timeout"},
      {"fixed:-1m", "needs a non-negative idle timeout"},
      {"fixed:ten", "needs a non-negative idle timeout"},
      {"fixed:10m,window=08:00-09:00", "for scheduled policies"},
      {"hybrid,every=5m", "hybrid takes cold-start-cost"},
      {"hybrid,cold-start-cost=0", "cold-start-cost \"0\" is not a positive number"},
      {"hybrid,cold-start-cost=-5", "is not a positive number of GB-seconds"},
      {"hybrid,cold-start-cost=inf", "is not a positive number"},
      {"hybrid,cold-start-cost=lots", "is not a positive number"},
      {"fixed:5m,cold-start-cost=5", "fixed takes by-memory"},
      {"hybrid,by-memory", "hybrid takes cold-start-cost"},
      {"fixed:5m,by-memory=yes", "unknown option"},
      {"scheduled:5m,colour=red", "unknown option \"colour=red\""},
      {"scheduled:5m,keep-loaded=yes", "unknown option"},
      {"scheduled:5m,window=08:00", "window \"08:00\""},
      {"scheduled:5m,window=25:00-26:00", "is not HH:MM-HH:MM"},
      {"scheduled:5m,window=08:00-08:00", "two different times"},
      {"scheduled:5m,window=24:00-01:00", "is not HH:MM-HH:MM"},
      {"scheduled:5m,instances=0", "instances \"0\" is not a positive integer"},
      {"scheduled:5m,instances=x", "is not a positive integer"},
      {"scheduled:5m,every=inf", "every \"inf\" is not a finite duration"},
      {"scheduled:5m,every=-5m", "is not a finite duration"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<KeepAliveOptions> options = ParsePolicySpec(c.spec);
    ASSERT_FALSE(options.ok()) << c.spec;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(options.status().message(), HasSubstr("ParsePolicySpec"));
    EXPECT_THAT(options.status().message(), HasSubstr(c.cause)) << c.spec;
  }
}

// ---- Fixed and scheduled --------------------------------------------------------------------

TEST(FixedPolicyTest, KeepsForTheTimeoutAfterTheIdleStart) {
  FixedPolicy policy(Parse("fixed:10m"));
  policy.OnArrival(At(absl::Minutes(1)));
  policy.OnIdle(At(absl::Minutes(2)));
  KeepAlivePolicy::Window window = policy.CurrentWindow();
  EXPECT_EQ(window.prewarm_at, absl::InfinitePast());
  EXPECT_EQ(window.keep_until, At(absl::Minutes(12)));
  // Every instance level the same: idle_timeout from its own idle start.
  EXPECT_EQ(policy.InstanceWindow(3, At(absl::Hours(1))).keep_until,
            At(absl::Hours(1) + absl::Minutes(10)));
  EXPECT_TRUE(policy.UnloadWhenEmpty());
  EXPECT_FALSE(FixedPolicy(Parse("fixed:10m,keep-loaded")).UnloadWhenEmpty());
}

TEST(FixedPolicyTest, ByMemoryScalesTheTimeoutTo128Mb) {
  KeepAliveOptions options = Parse("fixed:10m,by-memory");
  ASSERT_TRUE(options.scale_by_memory);
  options.instance_memory_mb = 512;  // 4 times 128 MB: a quarter of the timeout
  EXPECT_EQ(FixedPolicy(options).InstanceWindow(1, kT0).keep_until, kT0 + absl::Seconds(150));
  options.instance_memory_mb = 32;
  EXPECT_EQ(FixedPolicy(options).InstanceWindow(2, kT0).keep_until, kT0 + absl::Minutes(40));
  options.instance_memory_mb = kReferenceInstanceMemoryMb;
  EXPECT_EQ(FixedPolicy(options).InstanceWindow(1, kT0).keep_until, kT0 + absl::Minutes(10));
  // Without by-memory the memory does not matter.
  options.scale_by_memory = false;
  options.instance_memory_mb = 512;
  EXPECT_EQ(FixedPolicy(options).InstanceWindow(1, kT0).keep_until, kT0 + absl::Minutes(10));
  // Scheduled policies share the rule.
  KeepAliveOptions scheduled = Parse("scheduled:10m,window=01:00-02:00,by-memory");
  scheduled.instance_memory_mb = 256;
  EXPECT_EQ(ScheduledPolicy(scheduled, absl::UTCTimeZone()).InstanceWindow(1, kT0).keep_until,
            kT0 + absl::Minutes(5));
}

TEST(ScheduledPolicyTest, MinimumInsideDailyWindows) {
  ScheduledPolicy policy(Parse("scheduled:5m,window=08:00-09:30,window=22:00-02:00,instances=2"),
                         absl::UTCTimeZone());
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(7) + absl::Minutes(59))), 0);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(8))), 2);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(9) + absl::Minutes(29))), 2);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(9) + absl::Minutes(30))), 0);
  // The window wrapping past midnight covers both ends of the day.
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(1))), 2);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(2))), 0);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(23))), 2);
  EXPECT_EQ(policy.NextScheduleChange(At(absl::Hours(3))), At(absl::Hours(8)));
  EXPECT_EQ(policy.NextScheduleChange(At(absl::Hours(8))), At(absl::Hours(9) + absl::Minutes(30)));
  EXPECT_EQ(policy.NextScheduleChange(At(absl::Hours(23))), At(absl::Hours(26)));
  // The fixed part is unchanged.
  EXPECT_EQ(policy.InstanceWindow(1, kT0).keep_until, kT0 + absl::Minutes(5));
}

TEST(ScheduledPolicyTest, WindowsFollowTheTimeZone) {
  absl::TimeZone zone;
  ASSERT_TRUE(absl::LoadTimeZone("Etc/GMT-2", &zone));  // UTC+2, no daylight saving
  ScheduledPolicy policy(Parse("scheduled:5m,window=08:00-09:00"), zone);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(6))), 1);
  EXPECT_EQ(policy.ScheduledMinimum(At(absl::Hours(8))), 0);
}

TEST(ScheduledPolicyTest, NoWindowsNoChange) {
  ScheduledPolicy policy(Parse("scheduled:5m,every=10m"), absl::UTCTimeZone());
  EXPECT_EQ(policy.ScheduledMinimum(kT0), 0);
  EXPECT_EQ(policy.NextScheduleChange(kT0), absl::InfiniteFuture());
  EXPECT_EQ(policy.WarmEvery(), absl::Minutes(10));
}

// ---- Hybrid ---------------------------------------------------------------------------------

// Records `idle_times` at `level`.
void Record(HybridPolicy& policy, const std::vector<absl::Duration>& idle_times, int level = 1) {
  for (absl::Duration idle : idle_times) policy.OnInstanceIdleTime(level, idle);
}

// The defaults price a cold start at 512 GB-s / 128 MB = 4096 s of idle time; level 1 at 8
// times that.
constexpr absl::Duration kDefaultPrice = absl::Seconds(4096);

TEST(HybridPolicyTest, WithoutDataKeepsThePrice) {
  HybridPolicy policy(KeepAliveOptions{});
  ASSERT_EQ(policy.break_even_idle(), kDefaultPrice);
  policy.OnIdle(kT0);
  // Level 1: 8 * 4096 s, capped at the histogram's 4 hours.
  EXPECT_EQ(policy.PlanFor(1).mode, Mode::kPrior);
  KeepAlivePolicy::Window window = policy.CurrentWindow();
  EXPECT_EQ(window.prewarm_at, absl::InfinitePast());
  EXPECT_EQ(window.keep_until, kT0 + absl::Hours(4));
  EXPECT_EQ(policy.idle_times(1), nullptr);
  EXPECT_THAT(policy.Describe(), HasSubstr("prior: keep 4h"));
  // Level 2: the price itself.
  EXPECT_EQ(policy.PlanFor(2).mode, Mode::kPrior);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, kDefaultPrice);

  // A 1 GB instance: 512 s, and 8 * 512 s at level 1.
  KeepAliveOptions large;
  large.instance_memory_mb = 1024;
  HybridPolicy large_policy(large);
  EXPECT_EQ(large_policy.PlanFor(1).keep_until_after, absl::Seconds(4096));
  EXPECT_EQ(large_policy.PlanFor(2).keep_until_after, absl::Seconds(512));
}

TEST(HybridPolicyTest, PercentileBins) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, std::vector<absl::Duration>(5, absl::Seconds(150)));   // bin 2
  Record(policy, std::vector<absl::Duration>(94, absl::Seconds(630)));  // bin 10
  Record(policy, {absl::Minutes(200)});                                 // bin 200
  const HybridPolicy::IdleTimes& times = *policy.idle_times(1);
  EXPECT_EQ(times.in_bounds(), 100);
  EXPECT_EQ(times.bin_count(2), 5);
  EXPECT_EQ(times.bin_count(10), 94);
  EXPECT_EQ(times.PercentileBin(5), 2);  // 5 of 100 reached in bin 2
  EXPECT_EQ(times.PercentileBin(6), 10);
  EXPECT_EQ(times.PercentileBin(99), 10);  // 99 of 100 reached in bin 10
  EXPECT_EQ(times.PercentileBin(100), 200);
}

TEST(HybridPolicyTest, HistogramWindowUnloadsAndPrewarms) {
  HybridPolicy policy(KeepAliveOptions{});
  // Idle times of 10 to 12 minutes: bins 10, 11, 12.
  for (int i = 0; i < 30; ++i) Record(policy, {absl::Minutes(10 + i % 3) + absl::Seconds(5)});
  policy.OnIdle(kT0);
  HybridPolicy::Plan plan = policy.PlanFor(1);
  ASSERT_EQ(plan.mode, Mode::kHistogram);
  EXPECT_GE(policy.idle_times(1)->BinCountCv(), 2.0);
  // head = 10 min (lower edge of bin 10), tail = 13 min (upper edge of bin 12).
  const absl::Duration head = absl::Minutes(10) * (1 - HybridPolicy::kHistogramMargin);
  const absl::Duration tail = absl::Minutes(13) * (1 + HybridPolicy::kHistogramMargin);
  EXPECT_EQ(plan.prewarm_after, head);
  EXPECT_EQ(plan.keep_until_after, tail);
  KeepAlivePolicy::Window window = policy.CurrentWindow();
  EXPECT_EQ(window.prewarm_at, kT0 + head);
  EXPECT_EQ(window.keep_until, kT0 + tail);
  EXPECT_THAT(policy.Describe(), HasSubstr("histogram: prewarm 9m"));
}

// A head in bin 0 leaves nothing to prewarm: level 1 keeps its break-even keep-alive, on the
// 1-second bins of the first minute (20 idle times of 20 s: covering them to the edge at 21 s
// costs 400 s, far below 20 cold starts).
TEST(HybridPolicyTest, HeadInBinZeroKeepsTheBreakEven) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, std::vector<absl::Duration>(20, absl::Seconds(20)));
  ASSERT_EQ(policy.PlanFor(1).mode, Mode::kBreakEven);
  KeepAlivePolicy::Window window = policy.InstanceWindow(1, kT0);
  EXPECT_EQ(window.prewarm_at, absl::InfinitePast());
  EXPECT_EQ(window.keep_until, kT0 + absl::Seconds(21));
  EXPECT_THAT(policy.Describe(), HasSubstr("break-even: keep 21s"));
}

TEST(HybridPolicyTest, LevelsHaveTheirOwnHistograms) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, std::vector<absl::Duration>(20, absl::Seconds(20)), 1);
  Record(policy, std::vector<absl::Duration>(20, absl::Minutes(30) + absl::Seconds(30)), 2);
  EXPECT_EQ(policy.PlanFor(1).keep_until_after, absl::Seconds(21));
  // Level 2 is a keep-alive covering its idle times (30.5 minutes each, 1830 s against a
  // 4096 s cold start: the edge at 31 minutes costs least), with no prewarm.
  EXPECT_EQ(policy.PlanFor(2).mode, Mode::kBreakEven);
  EXPECT_EQ(policy.PlanFor(2).prewarm_after, absl::ZeroDuration());
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(31));
  // Level 3 has learnt nothing: it inherits level 2's keep-alive.
  EXPECT_EQ(policy.PlanFor(3).mode, Mode::kInherited);
  EXPECT_EQ(policy.PlanFor(3).keep_until_after, absl::Minutes(31));
  // Levels above kMaxLevels learn nothing: they inherit too.
  Record(policy, {absl::Hours(6)}, HybridPolicy::kMaxLevels + 5);
  EXPECT_EQ(policy.idle_times(HybridPolicy::kMaxLevels + 5), nullptr);
  EXPECT_EQ(policy.PlanFor(HybridPolicy::kMaxLevels + 5).mode, Mode::kInherited);
  EXPECT_EQ(policy.PlanFor(HybridPolicy::kMaxLevels + 5).keep_until_after, absl::Minutes(31));
}

// The break-even keep-alive of an upper level, counted by hand: cost(T) = idle time kept warm
// + the price of a cold start per idle time longer than T.
TEST(HybridPolicyTest, UpperLevelKeepsAliveWhereItBreaksEven) {
  HybridPolicy policy(KeepAliveOptions{});
  std::vector<absl::Duration> idle_times(100, absl::Seconds(10));
  idle_times.push_back(absl::Hours(2));  // bin 120
  idle_times.push_back(absl::Hours(2));
  Record(policy, idle_times, 2);
  const HybridPolicy::IdleTimes& times = *policy.idle_times(2);
  // At 4 hours a cold start, T = 2h1m costs 1000 s + 2 * 7200 s = 15400 s; T = 11 s (the
  // 1-second edge above 10 s) 1000 s + 2 * (11 s + 4 h) = 29822 s; T = 0 102 * 4 h.
  EXPECT_EQ(times.BreakEvenKeepAlive(absl::Hours(4)), absl::Hours(2) + absl::Minutes(1));
  // At 1 hour, T = 11 s costs 1000 s + 2 * (11 s + 1 h) = 8222 s.
  EXPECT_EQ(times.BreakEvenKeepAlive(absl::Hours(1)), absl::Seconds(11));
  // At the default 4096 s too; the plan keeps at least kUpperLevelFloor.
  ASSERT_EQ(HybridPolicy::kUpperLevelFloor, absl::Minutes(1));
  HybridPolicy::Plan plan = policy.PlanFor(2);
  EXPECT_EQ(plan.mode, Mode::kBreakEven);
  EXPECT_EQ(plan.keep_until_after, absl::Minutes(1));
  KeepAlivePolicy::Window window = policy.InstanceWindow(2, kT0);
  EXPECT_EQ(window.prewarm_at, absl::InfinitePast());
  EXPECT_EQ(window.keep_until, kT0 + absl::Minutes(1));

  // Out-of-bound idle times are cold starts at every T and cost T each: with 10 of them, at
  // 4 hours T = 2h1m costs 15400 s + 10 * (2h1m + 4 h) = 232000 s, T = 11 s 1000 s +
  // 12 * (11 s + 4 h) = 173932 s.
  HybridPolicy with_oob(KeepAliveOptions{});
  Record(with_oob, idle_times, 2);
  Record(with_oob, std::vector<absl::Duration>(10, absl::Hours(20)), 2);
  EXPECT_EQ(with_oob.idle_times(2)->BreakEvenKeepAlive(absl::Hours(4)), absl::Seconds(11));

  // Each level reads only its own idle times: 10 idle times of 30.5 minutes at level 3 give it
  // 31 minutes (10 * 1830 s, less than 10 cold starts) and leave level 2 at 1 minute.
  HybridPolicy separate(KeepAliveOptions{});
  Record(separate, idle_times, 2);
  Record(separate, std::vector<absl::Duration>(10, absl::Minutes(30) + absl::Seconds(30)), 3);
  EXPECT_EQ(separate.PlanFor(2).keep_until_after, absl::Minutes(1));
  EXPECT_EQ(separate.PlanFor(3).keep_until_after, absl::Minutes(31));
  EXPECT_EQ(separate.PlanFor(3).mode, Mode::kBreakEven);
}

// A cold start is priced in idle GB-seconds, so the same idle times keep a small instance
// warm longer than a large one: 10 idle times of 30.5 minutes (1830 s each) cost
// 10 * 1830 s * m of idle memory kept through, against 10 cold starts.
TEST(HybridPolicyTest, LevelsPriceIdleTimeByInstanceMemory) {
  const std::vector<absl::Duration> idle_times(10, absl::Minutes(30) + absl::Seconds(30));
  auto keep_alive = [&](double memory_mb, double cost_gb_s) {
    KeepAliveOptions options;
    options.kind = KeepAliveOptions::Kind::kHybrid;
    options.instance_memory_mb = memory_mb;
    options.cold_start_cost_gb_s = cost_gb_s;
    HybridPolicy policy(options);
    Record(policy, idle_times, 2);
    return policy.PlanFor(2).keep_until_after;
  };
  // 128 MB: keeping costs 10 * 1830 s * 0.125 GB = 2287.5 GB-s < 10 * 256 GB-s.
  EXPECT_EQ(keep_alive(128, 256), absl::Minutes(31));
  // 256 MB: 4575 GB-s > 2560 GB-s: let them go cold after the 1-minute floor.
  EXPECT_EQ(keep_alive(256, 256), absl::Minutes(1));
  // ... unless a cold start is worth more: 4575 GB-s < 10 * 512 GB-s.
  EXPECT_EQ(keep_alive(256, 512), absl::Minutes(31));
  // Zero memory (a trace may say so) makes idle time free: keep through them all.
  EXPECT_EQ(keep_alive(0, 256), absl::Minutes(31));
  // A price below the floor caps it: 64 GB-s / 8 GB = 8 s.
  EXPECT_EQ(keep_alive(8192, 64), absl::Seconds(8));

  // Level 1's histogram mode is the paper's and does not look at memory.
  KeepAliveOptions large;
  large.instance_memory_mb = 4096;
  HybridPolicy small_policy{KeepAliveOptions{}}, large_policy(large);
  Record(small_policy, std::vector<absl::Duration>(20, absl::Minutes(3)), 1);
  Record(large_policy, std::vector<absl::Duration>(20, absl::Minutes(3)), 1);
  EXPECT_EQ(small_policy.PlanFor(1).mode, Mode::kHistogram);
  EXPECT_EQ(small_policy.PlanFor(1).keep_until_after, large_policy.PlanFor(1).keep_until_after);
}

// Level 1's cold starts also load the module: its break-even prices them kFirstLevelPriceFactor
// times higher than an upper level's, on the same idle times.
TEST(HybridPolicyTest, FirstLevelPaysMoreForAColdStart) {
  KeepAliveOptions options;
  options.instance_memory_mb = 1024;  // 512 s of idle time, and 4096 s at level 1
  HybridPolicy policy(options);
  // One idle time in each of the first 60 minute bins: no representative histogram.
  std::vector<absl::Duration> idle_times;
  for (int bin = 0; bin < 60; ++bin) idle_times.push_back(absl::Minutes(bin) + absl::Seconds(30));
  Record(policy, idle_times, 1);
  Record(policy, idle_times, 2);
  const HybridPolicy::Plan first = policy.PlanFor(1);
  ASSERT_EQ(first.mode, Mode::kBreakEven);
  EXPECT_EQ(first.keep_until_after,
            policy.idle_times(1)->BreakEvenKeepAlive(absl::Seconds(4096)));
  EXPECT_EQ(policy.PlanFor(2).keep_until_after,
            std::max(HybridPolicy::kUpperLevelFloor,
                     policy.idle_times(2)->BreakEvenKeepAlive(absl::Seconds(512))));
  EXPECT_GT(first.keep_until_after, policy.PlanFor(2).keep_until_after);
}

TEST(ValidateKeepAliveOptionsTest, NamesTheFieldOutOfRange) {
  EXPECT_TRUE(ValidateKeepAliveOptions(KeepAliveOptions{}).ok());
  const struct {
    void (*mutate)(KeepAliveOptions&);
    const char* cause;
  } cases[] = {
      {[](KeepAliveOptions& o) { o.idle_timeout = absl::Seconds(-1); }, "idle_timeout -1s"},
      {[](KeepAliveOptions& o) { o.warm_every = absl::InfiniteDuration(); }, "warm_every inf"},
      {[](KeepAliveOptions& o) { o.scheduled_instances = -1; }, "scheduled_instances -1"},
      {[](KeepAliveOptions& o) { o.daily_windows.push_back({60, 60}); }, "daily window 60-60"},
      {[](KeepAliveOptions& o) { o.daily_windows.push_back({0, 1441}); }, "daily window 0-1441"},
      {[](KeepAliveOptions& o) { o.cold_start_cost_gb_s = 0; }, "cold_start_cost_gb_s 0 "},
      {[](KeepAliveOptions& o) { o.cold_start_cost_gb_s = HUGE_VAL; }, "cold_start_cost_gb_s inf"},
      {[](KeepAliveOptions& o) { o.instance_memory_mb = -1; }, "instance_memory_mb -1 "},
      {[](KeepAliveOptions& o) { o.instance_memory_mb = NAN; }, "instance_memory_mb nan"},
  };
  for (const auto& c : cases) {
    KeepAliveOptions options;
    c.mutate(options);
    const absl::Status status = ValidateKeepAliveOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.cause;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.cause));
  }
}

TEST(HybridPolicyTest, LevelsWithoutIdleTimesInheritAKeepAlive) {
  HybridPolicy policy(KeepAliveOptions{});
  const absl::Duration idle = absl::Minutes(30) + absl::Seconds(30);
  // No level knows anything: the price.
  EXPECT_EQ(policy.PlanFor(2).mode, Mode::kPrior);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, kDefaultPrice);
  // A timer-like level 1 unloads until its prewarm window, and its idle times, priced as an
  // upper level's, give level 2 a keep-alive (20 * 1830 s against 20 * 4096 s: cover them).
  Record(policy, std::vector<absl::Duration>(20, idle), 1);
  ASSERT_GT(policy.PlanFor(1).prewarm_after, absl::ZeroDuration());
  EXPECT_EQ(policy.PlanFor(2).mode, Mode::kInherited);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(31));
  // Level 2's first idle time gives it its own plan, and level 3, still without one,
  // inherits it.
  Record(policy, {absl::Seconds(10)}, 2);
  EXPECT_EQ(policy.PlanFor(2).mode, Mode::kBreakEven);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(1));  // 11 s, raised to the floor
  EXPECT_EQ(policy.PlanFor(3).mode, Mode::kInherited);
  EXPECT_EQ(policy.PlanFor(3).keep_until_after, absl::Minutes(1));
}

TEST(HybridPolicyTest, BusyLevelsRecomputeTheirPlanEverySixtyFourth) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, std::vector<absl::Duration>(640, absl::Seconds(5)), 2);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(1));  // 6 s, raised to the floor
  // 9 idle times of 30 minutes (a 64th of 640 is 10): the plan is not recomputed yet ...
  Record(policy, std::vector<absl::Duration>(9, absl::Minutes(30)), 2);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(1));
  // ... the 10th makes it, and covering them is now worth it (640 * 5 s + 10 * 30 min kept
  // warm = 21200 s, against 3200 s + 10 * (6 s + 4096 s) = 44220 s at T = 6 s).
  Record(policy, {absl::Minutes(30)}, 2);
  EXPECT_EQ(policy.PlanFor(2).keep_until_after, absl::Minutes(31));
}

TEST(HybridPolicyTest, CoefficientOfVariationDecidesRepresentativeness) {
  // n idle times spread one per bin over k bins: cv = sqrt(240 / k - 1).
  std::vector<absl::Duration> idle_times;
  for (int bin = 0; bin < 60; ++bin) idle_times.push_back(absl::Minutes(bin) + absl::Seconds(30));
  HybridPolicy spread60(KeepAliveOptions{});
  Record(spread60, idle_times);
  EXPECT_NEAR(spread60.idle_times(1)->BinCountCv(), std::sqrt(3.0), 1e-9);
  EXPECT_EQ(spread60.PlanFor(1).mode, Mode::kBreakEven);

  HybridPolicy spread40(KeepAliveOptions{});
  idle_times.resize(40);
  Record(spread40, idle_times);
  EXPECT_NEAR(spread40.idle_times(1)->BinCountCv(), std::sqrt(5.0), 1e-9);
  EXPECT_EQ(spread40.PlanFor(1).mode, Mode::kHistogram);
}

TEST(HybridPolicyTest, TooFewIdleTimesKeepTheBreakEven) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, std::vector<absl::Duration>(4, absl::Minutes(30)));
  EXPECT_EQ(policy.PlanFor(1).mode, Mode::kBreakEven);
  Record(policy, {absl::Minutes(30)});
  EXPECT_EQ(policy.PlanFor(1).mode, Mode::kHistogram);
}

TEST(HybridPolicyTest, OutOfBoundIdleTimesArePredicted) {
  HybridPolicy policy(KeepAliveOptions{});
  Record(policy, {absl::Hours(24)});
  policy.OnIdle(kT0);
  ASSERT_EQ(policy.PlanFor(1).mode, Mode::kPredicted);
  EXPECT_EQ(policy.idle_times(1)->predicted(), absl::Hours(24));
  KeepAlivePolicy::Window window = policy.CurrentWindow();
  EXPECT_EQ(window.prewarm_at, kT0 + absl::Hours(24) * (1 - HybridPolicy::kPredictionMargin));
  EXPECT_EQ(window.keep_until, kT0 + absl::Hours(24) * (1 + HybridPolicy::kPredictionMargin));

  // Exponential smoothing with weight 0.5: (20h + 24h) / 2.
  Record(policy, {absl::Hours(20)});
  EXPECT_EQ(policy.idle_times(1)->predicted(), absl::Hours(22));
  // Two in-bound idle times against two OOB ones: OOB are half, still predicted.
  Record(policy, {absl::Minutes(3), absl::Minutes(3)});
  EXPECT_EQ(policy.PlanFor(1).mode, Mode::kPredicted);
  EXPECT_THAT(policy.Describe(), HasSubstr("predicted 22h"));
  // A third in-bound one: OOB idle times are no longer at least half.
  Record(policy, {absl::Minutes(3)});
  EXPECT_NE(policy.PlanFor(1).mode, Mode::kPredicted);
}

// ---- Controller -----------------------------------------------------------------------------

KeepAliveController Controller(std::string_view spec) {
  return KeepAliveController(MakeKeepAlivePolicy(Parse(spec), absl::UTCTimeZone()));
}

constexpr int kMax = 100;

TEST(KeepAliveControllerTest, FixedEvictsExpiredOldestFirst) {
  KeepAliveController controller = Controller("fixed:10m");
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(At(absl::Minutes(1)));
  controller.OnInstanceIdle(At(absl::Minutes(5)));
  const std::vector<absl::Time> idle = {At(absl::Minutes(1)), At(absl::Minutes(5))};
  KeepAliveController::Decision d =
      controller.Decide(At(absl::Minutes(11)), At(absl::Minutes(11)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_FALSE(d.unload);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, At(absl::Minutes(15)));
  d = controller.Decide(At(absl::Minutes(15)), At(absl::Minutes(15)), {idle[1]}, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
  EXPECT_EQ(d.next_decision, absl::InfiniteFuture());
}

// With many levels, the warm count comes from the heap of window edges: every edge is seen
// once, in order, and a level reached again drops its pending edge.
TEST(KeepAliveControllerTest, ManyLevelsExpireOneEdgeAtATime) {
  KeepAliveController controller = Controller("fixed:10m");
  constexpr int kCalls = 100;
  for (int i = 0; i < kCalls; ++i) controller.OnInstanceBusy(kT0);
  std::vector<absl::Time> idle;
  for (int i = 1; i <= kCalls; ++i) {  // the call at level 101 - i ends at i s
    controller.OnInstanceIdle(At(absl::Seconds(i)));
    idle.push_back(At(absl::Seconds(i)));
  }
  // At 650.5 s the instances idle since 1..50 s are past their 10 minutes.
  const absl::Time now = At(absl::Seconds(650) + absl::Milliseconds(500));
  KeepAliveController::Decision d = controller.Decide(now, now, idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 50);
  EXPECT_EQ(d.next_decision, At(absl::Seconds(651)));
  idle.erase(idle.begin(), idle.begin() + 50);
  // A call takes the newest instance (level 1, idle since 100 s): its edge at 700 s is gone.
  controller.OnInstanceBusy(now);
  idle.pop_back();
  const absl::Time later = At(absl::Seconds(700));
  d = controller.Decide(later, later, idle, 1, true, 0, kMax);
  EXPECT_EQ(d.evict, 49);  // idle since 51..99 s
  EXPECT_EQ(d.next_decision, absl::InfiniteFuture());
}

TEST(KeepAliveControllerTest, MinInstancesAreNeverEvicted) {
  KeepAliveController controller = Controller("fixed:1m");
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(kT0);
  const std::vector<absl::Time> idle(3, kT0);
  KeepAliveController::Decision d =
      controller.Decide(At(absl::Hours(1)), At(absl::Hours(1)), idle, 0, true, 2, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_FALSE(d.unload);
  // Below the floor, the missing instances are prewarmed (up to max_instances).
  d = controller.Decide(At(absl::Hours(1)), At(absl::Hours(1)), {}, 0, false, 2, kMax);
  EXPECT_EQ(d.prewarm, 2);
  EXPECT_FALSE(d.unload);
  d = controller.Decide(At(absl::Hours(1)), At(absl::Hours(1)), {}, 0, false, 5, 3);
  EXPECT_EQ(d.prewarm, 3);
}

TEST(KeepAliveControllerTest, UnloadsOnlyWhenEmptyAndAllowed) {
  KeepAliveController controller = Controller("fixed:0");
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(At(absl::Seconds(1)));
  // One call ended, one still runs: evict its instance at once, but stay loaded.
  KeepAliveController::Decision d =
      controller.Decide(At(absl::Seconds(1)), At(absl::Seconds(1)), {At(absl::Seconds(1))}, 1,
                        true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_FALSE(d.unload);
  controller.OnInstanceIdle(At(absl::Seconds(2)));
  d = controller.Decide(At(absl::Seconds(2)), At(absl::Seconds(2)), {At(absl::Seconds(2))}, 0,
                        true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
  // Nothing to unload when not loaded.
  d = controller.Decide(At(absl::Seconds(3)), At(absl::Seconds(3)), {}, 0, false, 0, kMax);
  EXPECT_FALSE(d.unload);

  KeepAliveController keep_loaded = Controller("fixed:0,keep-loaded");
  keep_loaded.OnInstanceBusy(kT0);
  keep_loaded.OnInstanceIdle(kT0);
  d = keep_loaded.Decide(kT0, kT0, {kT0}, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_FALSE(d.unload);
}

TEST(KeepAliveControllerTest, HybridPrewarmsAtTheWindow) {
  auto policy = std::make_unique<HybridPolicy>(KeepAliveOptions{});
  HybridPolicy* hybrid = policy.get();
  KeepAliveController controller(std::move(policy));
  // Two calls a day apart: one OOB idle time of 24 hours.
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(At(absl::Seconds(1)));
  controller.OnInstanceBusy(At(absl::Hours(24) + absl::Seconds(1)));
  const absl::Time end = At(absl::Hours(24) + absl::Seconds(2));
  controller.OnInstanceIdle(end);
  ASSERT_EQ(hybrid->PlanFor(1).mode, Mode::kPredicted);
  const absl::Time prewarm_at = end + absl::Hours(24) * (1 - HybridPolicy::kPredictionMargin);
  const absl::Time keep_until = end + absl::Hours(24) * (1 + HybridPolicy::kPredictionMargin);

  // At the end of the call: unload, and come back at the prewarm time.
  KeepAliveController::Decision d = controller.Decide(end, end, {end}, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, prewarm_at);
  // Before the window: nothing.
  d = controller.Decide(prewarm_at - absl::Seconds(1), prewarm_at - absl::Seconds(1), {}, 0,
                        false, 0, kMax);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_FALSE(d.unload);
  EXPECT_EQ(d.next_decision, prewarm_at);
  // At the window: one instance, kept until the window closes.
  d = controller.Decide(prewarm_at, prewarm_at, {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 1);
  EXPECT_EQ(d.next_decision, keep_until);
  d = controller.Decide(prewarm_at + absl::Hours(1), prewarm_at + absl::Hours(1), {prewarm_at},
                        0, true, 0, kMax);
  EXPECT_EQ(d.evict, 0);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, keep_until);
  // The window closes without a call: evict and unload, and wait for the next call.
  d = controller.Decide(keep_until, keep_until, {prewarm_at}, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, absl::InfiniteFuture());
}

TEST(KeepAliveControllerTest, ScheduledFloorFollowsTheWindows) {
  KeepAliveController controller = Controller("scheduled:1m,window=08:00-09:00,instances=2");
  KeepAliveController::Decision d =
      controller.Decide(At(absl::Hours(7)), At(absl::Hours(7)), {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, At(absl::Hours(8)));
  d = controller.Decide(At(absl::Hours(8)), At(absl::Hours(8)), {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 2);
  EXPECT_EQ(d.next_decision, At(absl::Hours(9)));  // the floor holds them until then
  const std::vector<absl::Time> idle(2, At(absl::Hours(8)));
  d = controller.Decide(At(absl::Hours(8) + absl::Minutes(30)),
                        At(absl::Hours(8) + absl::Minutes(30)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 0);
  EXPECT_EQ(d.next_decision, At(absl::Hours(9)));
  d = controller.Decide(At(absl::Hours(9)), At(absl::Hours(9)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 2);
  EXPECT_TRUE(d.unload);
}

TEST(KeepAliveControllerTest, ScheduleIsReadOnTheWallClock) {
  // Monotonic time far from the wall clock: the floor and the next decision follow the wall.
  KeepAliveController controller = Controller("scheduled:1m,window=08:00-09:00");
  const absl::Time now = absl::UnixEpoch() + absl::Hours(5);
  KeepAliveController::Decision d =
      controller.Decide(now, At(absl::Hours(7)), {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, now + absl::Hours(1));
}

TEST(KeepAliveControllerTest, WarmerPrewarmsOnlyWhenNothingIsWarm) {
  KeepAliveController controller = Controller("scheduled:2m,every=10m");
  // The first decision only sets the reference point, even at a multiple of the period.
  KeepAliveController::Decision d = controller.Decide(kT0, kT0, {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 0);
  EXPECT_EQ(d.next_decision, At(absl::Minutes(10)));
  d = controller.Decide(At(absl::Minutes(10)), At(absl::Minutes(10)), {}, 0, false, 0, kMax);
  EXPECT_EQ(d.prewarm, 1);
  EXPECT_EQ(d.next_decision, At(absl::Minutes(12)));  // the new instance's expiry
  // At the next tick the instance is warm (busy): no prewarm.
  d = controller.Decide(At(absl::Minutes(20)), At(absl::Minutes(20)), {}, 1, true, 0, kMax);
  EXPECT_EQ(d.prewarm, 0);
  // A tick missed between two decisions still counts.
  d = controller.Decide(At(absl::Minutes(31)), At(absl::Minutes(31)), {}, 0, true, 0, kMax);
  EXPECT_EQ(d.prewarm, 1);
  EXPECT_FALSE(d.unload);
  EXPECT_EQ(d.next_decision, At(absl::Minutes(33)));
  // No tick since: the instance lives its idle timeout, then goes.
  const std::vector<absl::Time> idle = {At(absl::Minutes(31))};
  d = controller.Decide(At(absl::Minutes(32)), At(absl::Minutes(32)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 0);
  EXPECT_EQ(d.prewarm, 0);
  d = controller.Decide(At(absl::Minutes(33)), At(absl::Minutes(33)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
}

TEST(KeepAliveControllerTest, TracksInstanceLevels) {
  auto policy = std::make_unique<HybridPolicy>(KeepAliveOptions{});
  HybridPolicy* hybrid = policy.get();
  KeepAliveController controller(std::move(policy));
  controller.OnInstanceBusy(kT0);  // first calls: nothing idle before them
  controller.OnInstanceBusy(At(absl::Seconds(1)));
  controller.OnInstanceIdle(At(absl::Seconds(10)));  // level 2 idle from 10 s
  controller.OnInstanceBusy(At(absl::Seconds(70)));  // ... until 70 s: 1 minute
  ASSERT_NE(hybrid->idle_times(2), nullptr);
  EXPECT_EQ(hybrid->idle_times(2)->bin_count(1), 1);
  controller.OnInstanceIdle(At(absl::Seconds(80)));  // level 2 idle from 80 s
  controller.OnInstanceIdle(At(absl::Seconds(90)));  // level 1 idle from 90 s
  controller.OnInstanceBusy(At(absl::Seconds(90) + absl::Minutes(5)));   // level 1: 5 minutes
  controller.OnInstanceBusy(At(absl::Seconds(80) + absl::Minutes(30)));  // level 2: 30 minutes
  EXPECT_EQ(hybrid->idle_times(1)->in_bounds(), 1);
  EXPECT_EQ(hybrid->idle_times(1)->bin_count(5), 1);
  EXPECT_EQ(hybrid->idle_times(2)->in_bounds(), 2);
  EXPECT_EQ(hybrid->idle_times(2)->bin_count(30), 1);
}

TEST(KeepAliveControllerTest, LearnsFunctionIdleTimesWithoutCallEnds) {
  // An owner that reports only when the function goes busy and idle.
  auto policy = std::make_unique<HybridPolicy>(KeepAliveOptions{});
  HybridPolicy* hybrid = policy.get();
  KeepAliveController controller(std::move(policy));
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(At(absl::Minutes(1)));
  controller.OnInstanceBusy(At(absl::Minutes(4)));
  controller.OnInstanceIdle(At(absl::Minutes(5)));
  controller.OnInstanceBusy(At(absl::Minutes(12)));
  EXPECT_EQ(hybrid->idle_times(1)->in_bounds(), 2);
  EXPECT_EQ(hybrid->idle_times(1)->bin_count(3), 1);
  EXPECT_EQ(hybrid->idle_times(1)->bin_count(7), 1);
}

TEST(KeepAliveControllerTest, EachLevelKeepsItsOwnWindow) {
  // Level 1 is busy often (idle times of seconds); level 2 every 30 minutes.
  auto policy = std::make_unique<HybridPolicy>(KeepAliveOptions{});
  HybridPolicy* hybrid = policy.get();
  KeepAliveController controller(std::move(policy));
  Record(*hybrid, std::vector<absl::Duration>(20, absl::Seconds(20)), 1);
  Record(*hybrid, std::vector<absl::Duration>(20, absl::Minutes(30) + absl::Seconds(10)), 2);
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(At(absl::Seconds(1)));  // level 2 idle
  controller.OnInstanceIdle(At(absl::Seconds(2)));  // level 1 idle
  const std::vector<absl::Time> idle = {At(absl::Seconds(1)), At(absl::Seconds(2))};
  // Level 1 stays 21 s (its break-even keep-alive on 1-second bins); level 2 is kept 31
  // minutes (20 * 1810 s warm against 20 cold starts of 4096 s) from when it went idle.
  KeepAliveController::Decision d =
      controller.Decide(At(absl::Seconds(2)), At(absl::Seconds(2)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 0);
  EXPECT_EQ(d.next_decision, At(absl::Seconds(23)));
  d = controller.Decide(At(absl::Seconds(23)), At(absl::Seconds(23)), idle, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_FALSE(d.unload);
  const absl::Time level2_end = At(absl::Seconds(1)) + absl::Minutes(31);
  EXPECT_EQ(d.next_decision, level2_end);
  d = controller.Decide(level2_end, level2_end, {idle[1]}, 0, true, 0, kMax);
  EXPECT_EQ(d.evict, 1);
  EXPECT_TRUE(d.unload);
  EXPECT_EQ(d.prewarm, 0);
}

TEST(KeepAliveControllerTest, NextDecisionIsAlwaysInTheFuture) {
  KeepAliveController controller = Controller("fixed:0");
  controller.OnInstanceBusy(kT0);
  controller.OnInstanceIdle(kT0);
  KeepAliveController::Decision d = controller.Decide(kT0, kT0, {kT0}, 0, true, 1, kMax);
  EXPECT_EQ(d.evict, 0);  // kept by the floor although expired
  EXPECT_EQ(d.next_decision, absl::InfiniteFuture());
}

}  // namespace
}  // namespace fnhost
