// Tests of the keep-alive simulator: hand-counted replays, the trace readers (both Azure
// formats, bad inputs), arrival spreading, the generator and the reports.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/policy/keep_alive_policy.h"
#include "src/sim/report.h"
#include "src/sim/simulator.h"
#include "src/sim/trace.h"
#include "src/sim/trace_generator.h"
#include "src/sim/trace_reader.h"
#include "src/sim/trace_writer.h"
#include "tests/support/test_util.h"

namespace fnhost::sim {
namespace {

using ::fnhost::testing::TempDir;
using ::fnhost::testing::WriteFileBytes;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTraceDir = FNHOST_SOURCE_DIR "/tests/data/traces";

KeepAliveOptions Policy(std::string_view spec) {
  absl::StatusOr<KeepAliveOptions> options = ParsePolicySpec(spec);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : KeepAliveOptions{};
}

std::vector<Call> Calls(const std::vector<std::pair<absl::Duration, absl::Duration>>& calls) {
  std::vector<Call> out;
  for (const auto& [arrival, duration] : calls) out.push_back(Call{arrival, duration});
  return out;
}

// ---- Hand-counted replays (1 GB instances, so GB-s are seconds of idle instances) ------------

constexpr double kOneGb = 1024;

TEST(SimulateFunctionTest, FixedTenMinutes) {
  // Calls at minutes 0, 5 and 30, one second each; the trace lasts 40 minutes.
  //  0:00 cold (nothing warm). Idle from 0:01.
  //  5:00 warm: idle 4:59 = 299 s. Idle from 5:01, evicted at 15:01: 600 s.
  // 30:00 cold. Idle from 30:01 to the end of the trace, 40:00: 599 s.
  // Cold starts 2 (both loads), wasted 299 + 600 + 599 = 1498 GB-s.
  const std::vector<Call> calls = Calls({{absl::Minutes(0), absl::Seconds(1)},
                                         {absl::Minutes(5), absl::Seconds(1)},
                                         {absl::Minutes(30), absl::Seconds(1)}});
  FunctionResult r = SimulateFunction(calls, kOneGb, Policy("fixed:10m"), absl::Minutes(40));
  EXPECT_EQ(r.invocations, 3);
  EXPECT_EQ(r.cold_starts, 2);
  EXPECT_EQ(r.load_cold_starts, 2);
  EXPECT_EQ(r.prewarm_loads, 0);
  EXPECT_DOUBLE_EQ(r.wasted_memory_gb_s, 1498);

  // fixed:0: every call cold, nothing idle.
  r = SimulateFunction(calls, kOneGb, Policy("fixed:0"), absl::Minutes(40));
  EXPECT_EQ(r.cold_starts, 3);
  EXPECT_DOUBLE_EQ(r.wasted_memory_gb_s, 0);

  // Hybrid at half a GB prices a first-level cold start at 8 * 512 GB-s / 0.5 GB = 8192 s of
  // idle time. Without data it keeps that long: the call at 5:00 is warm (299 s idle). Its one
  // idle time then gives the break-even keep-alive, to the 5-minute edge (299 s against 8192 s):
  // evicted at 10:01 (300 s idle), so 30:00 is cold, and kept to the end (599 s). Half a GB
  // halves the waste.
  r = SimulateFunction(calls, kOneGb / 2, Policy("hybrid"), absl::Minutes(40));
  EXPECT_EQ(r.cold_starts, 2);
  EXPECT_EQ(r.load_cold_starts, 2);
  EXPECT_DOUBLE_EQ(r.wasted_memory_gb_s, (299.0 + 300 + 599) / 2);
}

TEST(SimulateFunctionTest, ConcurrentCallsNeedTheirOwnInstances) {
  // 0:00 call A (60 s) cold; 0:10 call B (10 s) cold, as A is busy.
  // 0:20 B ends: idle. 0:30 call C warm on B's instance (10 s idle); ends 0:40.
  // 1:00 A ends. Both idle until the end at 2:00: 80 + 60 s. fixed:10m keeps them.
  // Wasted 10 + 80 + 60 = 150 GB-s; loads: only A (the module was loaded for B).
  const std::vector<Call> calls = Calls({{absl::Seconds(0), absl::Seconds(60)},
                                         {absl::Seconds(10), absl::Seconds(10)},
                                         {absl::Seconds(30), absl::Seconds(10)}});
  FunctionResult r = SimulateFunction(calls, kOneGb, Policy("fixed:10m"), absl::Minutes(2));
  EXPECT_EQ(r.cold_starts, 2);
  EXPECT_EQ(r.load_cold_starts, 1);
  EXPECT_DOUBLE_EQ(r.wasted_memory_gb_s, 150);
  // By level: A is cold at level 1, B at level 2. B's instance goes idle at level 2 (two
  // calls were running), serves C at level 2 and goes idle there again: 10 + 80 s; A's goes
  // idle at level 1: 60 s. Half of the 2 minutes is at 1:00: 60 s of each after it.
  EXPECT_EQ(r.breakdown.cold_starts[0], 1);
  EXPECT_EQ(r.breakdown.cold_starts[1], 1);
  EXPECT_DOUBLE_EQ(r.breakdown.wasted_memory_gb_s[0], 60);
  EXPECT_DOUBLE_EQ(r.breakdown.wasted_memory_gb_s[1], 90);
  EXPECT_DOUBLE_EQ(r.breakdown.prewarmed_gb_s, 0);
  EXPECT_EQ(r.breakdown.second_half_cold_starts, 0);
  EXPECT_DOUBLE_EQ(r.breakdown.second_half_gb_s, 120);
}

TEST(SimulateFunctionTest, LevelGroups) {
  EXPECT_EQ(LevelGroup(1), 0);
  EXPECT_EQ(LevelGroup(2), 1);
  EXPECT_EQ(LevelGroup(4), 2);
  EXPECT_EQ(LevelGroup(5), 3);
  EXPECT_EQ(LevelGroup(16), 3);
  EXPECT_EQ(LevelGroup(17), 4);
  EXPECT_STREQ(LevelGroupName(3), "5-16");
}

TEST(SimulateFunctionTest, HybridPrewarmsADailyFunction) {
  // Calls at 0h, 24h and 48h (1 s each) over 60 hours.
  // Call 1 cold; no data: kept for the first level's price, 8 * 512 GB-s / 1 GB = 4096 s.
  // Call 2 cold; idle time P = 23:59:59 = 86399 s, out of bounds: predicted P.
  // From the end of call 2 (24:00:01), unloaded; prewarmed at 0.85 P; call 3 at 24:00:01 + P
  // is warm after 0.15 P = 12959.85 s idle. Then predicted again: prewarm at 0.85 P after
  // 48:00:01 (68:24), past the end of the trace.
  const std::vector<Call> calls = Calls({{absl::Hours(0), absl::Seconds(1)},
                                         {absl::Hours(24), absl::Seconds(1)},
                                         {absl::Hours(48), absl::Seconds(1)}});
  FunctionResult r = SimulateFunction(calls, kOneGb, Policy("hybrid"), absl::Hours(60));
  EXPECT_EQ(r.cold_starts, 2);
  EXPECT_EQ(r.prewarm_loads, 1);
  EXPECT_NEAR(r.wasted_memory_gb_s, 4096 + 0.15 * 86399, 1e-3);
  // The prewarmed instance served call 3; the memory it held idle is counted as waste too.
  EXPECT_NEAR(r.breakdown.prewarmed_gb_s, 0.15 * 86399, 1e-3);
  EXPECT_EQ(r.breakdown.prewarms_unused, 0);
  // Calls 1 and 2 were cold before 30 h, half of the trace; call 3 (48 h) is warm.
  EXPECT_EQ(r.breakdown.second_half_cold_starts, 0);
}

TEST(SimulateFunctionTest, HybridLevelsOfAPeriodicPair) {
  // Ten pairs of concurrent 1 s calls, 30.5 minutes (1830 s) apart; the trace ends with the
  // last pair. Both levels are idle 1829 s between pairs (bin 30). Instances of 128 MB: level 2
  // prices a cold start at 512 GB-s / 0.125 GB = 4096 s of idle time, level 1 at 8 times that.
  // Pairs 0: two cold starts (one load). Before pair 1 both keep their price (no data); before
  // pairs 2-5 their break-even 31 minutes (1829 s warm against a higher price, and level 1 has
  // fewer than 5 idle times for a histogram): both instances idle 1829 s, warm.
  // From the end of pair 5, level 1 is a histogram (head bin 30: prewarm at 27 min; tail
  // 34.1 min) and level 2 still keeps 31 minutes: one instance stays (1829 s idle), the other
  // is evicted at once and prewarmed at 27 minutes (1829 - 1620 = 209 s idle). Pairs 6-9 are
  // warm.
  std::vector<Call> calls;
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 2; ++j) calls.push_back(Call{absl::Seconds(1830 * i), absl::Seconds(1)});
  }
  const absl::Duration length = absl::Seconds(1830 * 9 + 1);
  const double gb = 0.125;
  FunctionResult r = SimulateFunction(calls, gb * 1024, Policy("hybrid"), length);
  EXPECT_EQ(r.invocations, 20);
  EXPECT_EQ(r.cold_starts, 2);
  EXPECT_EQ(r.load_cold_starts, 1);
  EXPECT_EQ(r.prewarm_loads, 4);
  EXPECT_NEAR(r.wasted_memory_gb_s, gb * (5 * 2 * 1829 + 4 * (1829 + 209)), 1e-6);
  EXPECT_NEAR(r.breakdown.prewarmed_gb_s, gb * 4 * 209, 1e-6);
  EXPECT_EQ(r.breakdown.prewarms_unused, 0);
  EXPECT_EQ(r.breakdown.cold_starts[0] + r.breakdown.cold_starts[1], 2);
  // fixed:35m keeps both instances through every gap: the same cold starts, more memory.
  FunctionResult fixed = SimulateFunction(calls, gb * 1024, Policy("fixed:35m"), length);
  EXPECT_EQ(fixed.cold_starts, 2);
  EXPECT_NEAR(fixed.wasted_memory_gb_s, gb * 9 * 2 * 1829, 1e-6);

  // Instances of 1 GB: a cold start is worth 512 s of idle time at level 2 (4096 s at level
  // 1). Level 2 keeps its instance 512 s before pair 1 and then, its idle times being longer
  // than that, only the 1-minute floor: the second call of every pair starts cold (9 more, none
  // a load: the first instance is warm or prewarmed). Idle: level 1 1829 s before pairs 1-5
  // and 209 s prewarmed before pairs 6-9; level 2 512 s, then 60 s after pairs 1-8.
  FunctionResult large = SimulateFunction(calls, kOneGb, Policy("hybrid"), length);
  EXPECT_EQ(large.cold_starts, 11);
  EXPECT_EQ(large.load_cold_starts, 1);
  EXPECT_EQ(large.breakdown.cold_starts[1], 10);  // level 2: every pair
  EXPECT_EQ(large.prewarm_loads, 4);
  EXPECT_NEAR(large.wasted_memory_gb_s, 5 * 1829 + 4 * 209 + 512 + 8 * 60, 1e-6);
  // ... and a cold start priced at 2048 GB-s buys the small instance's plan back.
  FunctionResult priced =
      SimulateFunction(calls, kOneGb, Policy("hybrid,cold-start-cost=2048"), length);
  EXPECT_EQ(priced.cold_starts, 2);
  EXPECT_NEAR(priced.wasted_memory_gb_s, 5 * 2 * 1829 + 4 * (1829 + 209), 1e-6);
}

TEST(SimulateFunctionTest, ScheduledWindowKeepsAnInstance) {
  // scheduled:0 with 01:00-02:00: an instance is prewarmed at 01:00 and evicted at 02:00
  // (3600 s idle); the call at 01:30 finds it warm (1800 s of it) and its instance is then
  // kept until 02:00 by the floor.
  const std::vector<Call> calls = Calls({{absl::Minutes(90), absl::Seconds(0)}});
  FunctionResult r = SimulateFunction(calls, kOneGb, Policy("scheduled:0,window=01:00-02:00"),
                                      absl::Hours(3));
  EXPECT_EQ(r.cold_starts, 0);
  EXPECT_EQ(r.prewarm_loads, 1);
  EXPECT_DOUBLE_EQ(r.wasted_memory_gb_s, 3600);
}

// ---- Arrivals inside minutes ----------------------------------------------------------------

TEST(ExpandCallsTest, TimersKeepTheirPhaseOthersSpreadUniformly) {
  TraceFunction timer;
  timer.id = "o/a/timer";
  timer.trigger = "timer";
  timer.duration = absl::Seconds(2);
  timer.minutes = {{0, 1}, {1, 1}, {5, 2}};
  std::vector<Call> calls = ExpandCalls(timer, 7);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].arrival - calls[0].arrival, absl::Minutes(1));
  // Two in a minute: the phase spread over half-minute slots.
  EXPECT_NEAR(absl::ToDoubleSeconds(calls[2].arrival - absl::Minutes(5)),
              absl::ToDoubleSeconds(calls[0].arrival) / 2, 1e-6);
  EXPECT_NEAR(absl::ToDoubleSeconds(calls[3].arrival - calls[2].arrival), 30, 1e-6);
  EXPECT_EQ(calls[0].duration, absl::Seconds(2));

  TraceFunction http = timer;
  http.trigger = "http";
  http.minutes = {{3, 50}};
  calls = ExpandCalls(http, 7);
  ASSERT_EQ(calls.size(), 50u);
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].arrival, absl::Minutes(3));
    EXPECT_LT(calls[i].arrival, absl::Minutes(4));
    if (i > 0) EXPECT_GE(calls[i].arrival, calls[i - 1].arrival);
  }
  // Deterministic per seed, different across seeds.
  std::vector<Call> again = ExpandCalls(http, 7);
  std::vector<Call> other = ExpandCalls(http, 8);
  EXPECT_EQ(again.front().arrival, calls.front().arrival);
  EXPECT_NE(other.front().arrival, calls.front().arrival);
}

// ---- Readers --------------------------------------------------------------------------------

TEST(ReadTraceTest, Azure2019Sample) {
  absl::StatusOr<Trace> trace = ReadTrace({kTraceDir + "/azure2019-sample/invocations.csv"});
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->functions.size(), 4u);
  EXPECT_EQ(trace->length, absl::Hours(24));
  const TraceFunction& first = trace->functions[0];
  EXPECT_EQ(first.trigger, "queue");
  EXPECT_THAT(first.id, HasSubstr("c13acdc7567b225971cef2416a3a2b03c8a4d8d154df48afe75834e2f5c59ddf"));
  EXPECT_EQ(first.duration, absl::Milliseconds(100));
  EXPECT_DOUBLE_EQ(first.memory_mb, 120);  // its app's memory, one function
  EXPECT_EQ(trace->functions[3].trigger, "timer");
  EXPECT_EQ(trace->functions[3].duration, absl::Milliseconds(125));
  int64_t calls = 0;
  for (const MinuteCount& m : first.minutes) calls += m.count;
  EXPECT_EQ(calls, 1150);
  EXPECT_EQ(trace->functions_without_duration, 0);
  EXPECT_EQ(trace->apps_without_memory, 0);

  absl::StatusOr<std::vector<PolicyResult>> results =
      Simulate(*trace, {"fixed:10m", "hybrid"}, SimOptions{});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].functions, 4);
  EXPECT_EQ((*results)[0].invocations, 1150 + 3 * 1125);
  EXPECT_GT((*results)[0].cold_starts, 0);
  EXPECT_GT((*results)[0].wasted_memory_gb_s, 0);
}

TEST(ReadTraceTest, Azure2021Sample) {
  absl::StatusOr<Trace> trace = ReadTrace({kTraceDir + "/azure2021-sample/Azure2021_200.csv"});
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->functions.size(), 31u);
  EXPECT_EQ(trace->apps_without_memory, 13);
  size_t calls = 0;
  for (const TraceFunction& f : trace->functions) {
    calls += f.calls.size();
    EXPECT_TRUE(std::is_sorted(f.calls.begin(), f.calls.end(), [](const Call& a, const Call& b) {
      return a.arrival < b.arrival;
    }));
  }
  EXPECT_EQ(calls, 199u);
  // The first row: end 0.0795 s after a call of 0.078 s.
  EXPECT_NEAR(absl::ToDoubleSeconds(trace->functions[0].calls[0].duration), 0.078, 1e-9);
  EXPECT_NEAR(absl::ToDoubleSeconds(trace->length), 1260.0557980537415, 1e-6);

  absl::StatusOr<std::vector<PolicyResult>> results =
      Simulate(*trace, {"fixed:0", "fixed:10m"}, SimOptions{});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].cold_starts, 199);
  EXPECT_LT((*results)[1].cold_starts, 199);
}

// invitro's sampler layout: N_inv.csv (HashFunction,HashApp,HashOwner,minute_1..), with
// N_run.csv (durations per function) and N_mem.csv (memory per app) beside it.
TEST(ReadTraceTest, InvitroSample) {
  absl::StatusOr<Trace> trace = ReadTrace({kTraceDir + "/invitro-sample/3_inv.csv"});
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->functions.size(), 3u);
  EXPECT_EQ(trace->length, absl::Hours(24));
  const TraceFunction& first = trace->functions[0];
  EXPECT_EQ(first.id, "o1/a1/f1");
  EXPECT_EQ(first.app, "o1/a1");
  EXPECT_EQ(first.trigger, "");
  ASSERT_EQ(first.minutes.size(), 2u);
  EXPECT_EQ(first.minutes[0].minute, 0);
  EXPECT_EQ(first.minutes[0].count, 2);
  EXPECT_EQ(first.minutes[1].minute, 1);
  EXPECT_EQ(first.duration, absl::Milliseconds(250));
  EXPECT_DOUBLE_EQ(first.memory_mb, 150);  // app a1's 300 MB, shared by f1 and f2
  EXPECT_EQ(trace->functions[1].minutes[0].minute, 1439);
  EXPECT_EQ(trace->functions[1].duration, absl::Seconds(4));
  // f3 is in neither side file: the defaults, counted.
  EXPECT_EQ(trace->functions[2].duration, kDefaultDuration);
  EXPECT_DOUBLE_EQ(trace->functions[2].memory_mb, kDefaultAppMemoryMb);
  EXPECT_EQ(trace->functions_without_duration, 1);
  EXPECT_EQ(trace->apps_without_memory, 1);

  absl::StatusOr<std::vector<PolicyResult>> results =
      Simulate(*trace, {"fixed:10m"}, SimOptions{});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].invocations, 9);
}

TEST(ReadTraceTest, InvitroMinuteColumnsAreChecked) {
  const TempDir scratch;
  const std::string dir = scratch.path();
  ASSERT_TRUE(WriteFileBytes(dir + "/1_inv.csv",
                             "HashFunction,HashApp,HashOwner,minute_1,minute_3\nf,a,o,1,2\n"));
  absl::StatusOr<Trace> trace = ReadTrace({dir + "/1_inv.csv"});
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trace.status().message()), HasSubstr("1_inv.csv"));
  EXPECT_THAT(std::string(trace.status().message()), HasSubstr("expected \"minute_2\""));

  // A short day is a trace of that many minutes.
  ASSERT_TRUE(WriteFileBytes(dir + "/2_inv.csv",
                             "HashFunction,HashApp,HashOwner,minute_1,minute_2\nf,a,o,1,2\n"));
  trace = ReadTrace({dir + "/2_inv.csv"});
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->length, absl::Minutes(2));
  EXPECT_EQ(trace->functions_without_duration, 1);
}

std::string Header2019() {
  std::string header = "HashOwner,HashApp,HashFunction,Trigger";
  for (int m = 1; m <= 1440; ++m) absl::StrAppend(&header, ",", m);
  return header + "\n";
}

// A row with `counts` at the given minutes (0-based) of the day.
std::string Row2019(const std::string& function, const std::string& trigger,
                    const std::vector<std::pair<int, int>>& counts) {
  std::vector<int> minutes(1440, 0);
  for (const auto& [minute, count] : counts) minutes[minute] = count;
  return absl::StrCat("o,a,", function, ",", trigger, ",", absl::StrJoin(minutes, ","), "\n");
}

// ",0" `n` times.
std::string Zeros(int n) {
  std::string zeros;
  for (int i = 0; i < n; ++i) zeros += ",0";
  return zeros;
}

TEST(ReadTraceTest, Azure2019DaysFollowEachOtherWithTheDatasetsSideFiles) {
  const TempDir scratch;
  const std::string dir = scratch.path();
  ASSERT_TRUE(WriteFileBytes(dir + "/invocations_per_function_md.anon.d01.csv",
                             Header2019() + Row2019("f", "http", {{10, 2}})));
  ASSERT_TRUE(WriteFileBytes(
      dir + "/invocations_per_function_md.anon.d02.csv",
      Header2019() + Row2019("f", "http", {{0, 1}}) + Row2019("g", "timer", {{5, 1}})));
  ASSERT_TRUE(WriteFileBytes(dir + "/function_durations_percentiles.anon.d02.csv",
                             "HashOwner,HashApp,HashFunction,Average,Count\no,a,f,250,1\n"));
  ASSERT_TRUE(WriteFileBytes(dir + "/app_memory_percentiles.anon.d01.csv",
                             "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no,a,3,300\n"));
  absl::StatusOr<Trace> trace = ReadTrace({dir});  // the directory: its days by name
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->length, absl::Hours(48));
  ASSERT_EQ(trace->functions.size(), 2u);
  const TraceFunction& f = trace->functions[0];
  ASSERT_EQ(f.minutes.size(), 2u);
  EXPECT_EQ(f.minutes[0].minute, 10);
  EXPECT_EQ(f.minutes[0].count, 2);
  EXPECT_EQ(f.minutes[1].minute, 1440);
  EXPECT_EQ(f.duration, absl::Milliseconds(250));
  EXPECT_EQ(trace->functions[1].minutes[0].minute, 1440 + 5);
  EXPECT_EQ(trace->functions[1].duration, kDefaultDuration);
  EXPECT_EQ(trace->functions_without_duration, 1);
  EXPECT_DOUBLE_EQ(f.memory_mb, 150);  // 300 MB shared by the app's two functions
}

TEST(ReadTraceTest, RejectsBadInputsNamingFileAndLine) {
  const TempDir scratch;
  const std::string dir = scratch.path();
  const struct {
    const char* name;
    std::string contents;
    const char* message;
  } cases[] = {
      {"empty.csv", "", "empty.csv:0: empty file"},
      {"unknown.csv", "a,b,c\n1,2,3\n", "unknown.csv:1: the header is neither"},
      {"minutes.csv", "HashOwner,HashApp,HashFunction,Trigger" + std::string(1440, ','),
       "column 5 is \"\", expected minute 1"},
      {"width.csv", Header2019() + "o,a,f,http,1,2\n", "width.csv:2: 6 fields where the header has 1444"},
      {"count.csv", Header2019() + "o,a,f,http,x" + Zeros(1439) + "\n",
       "count.csv:2: minute 1: \"x\" is not a count of calls"},
      {"negative.csv", "app,func,end_timestamp,duration\na,f,1.0,-2\n",
       "negative.csv:2: end_timestamp \"1.0\" and duration \"-2\" are not non-negative"},
      {"short.csv", "app,func,end_timestamp,duration\na,f,1.0\n",
       "short.csv:2: 3 fields where the header has 4"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(WriteFileBytes(dir + "/" + c.name, c.contents));
    absl::StatusOr<Trace> trace = ReadTrace({dir + "/" + c.name});
    ASSERT_FALSE(trace.ok()) << c.name;
    EXPECT_THAT(trace.status().message(), HasSubstr("ReadTrace: "));
    EXPECT_THAT(trace.status().message(), HasSubstr(c.message)) << trace.status();
  }
  EXPECT_EQ(ReadTrace({dir + "/missing.csv"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadTrace({dir}).status().code(), absl::StatusCode::kNotFound);  // no day files
  EXPECT_EQ(ReadTrace({}).status().code(), absl::StatusCode::kInvalidArgument);

  const std::string v2021 = kTraceDir + "/azure2021-sample/Azure2021_200.csv";
  const std::string v2019 = kTraceDir + "/azure2019-sample/invocations.csv";
  EXPECT_THAT(ReadTrace({v2019, v2021}).status().message(), HasSubstr("is not in the format of"));
  EXPECT_THAT(ReadTrace({v2021, v2021}).status().message(), HasSubstr("a single file"));
  const TempDir side_scratch;
  const std::string bad_side = side_scratch.path();
  ASSERT_TRUE(
      WriteFileBytes(bad_side + "/invocations.csv", Header2019() + Row2019("f", "http", {{1, 1}})));
  ASSERT_TRUE(
      WriteFileBytes(bad_side + "/memory.csv", "HashOwner,HashApp,AverageAllocatedMb\no,a,lots\n"));
  EXPECT_THAT(ReadTrace({bad_side + "/invocations.csv"}).status().message(),
              HasSubstr("memory.csv:2: AverageAllocatedMb \"lots\" is not a non-negative number"));
  ASSERT_TRUE(WriteFileBytes(bad_side + "/memory.csv", "HashOwner,Mb\n"));
  EXPECT_THAT(ReadTrace({bad_side + "/invocations.csv"}).status().message(),
              HasSubstr("memory.csv:1: no column HashApp"));
}

// ---- Simulate -------------------------------------------------------------------------------

TEST(SimulateTest, DeterministicForASeedAndAcrossThreads) {
  absl::StatusOr<Trace> trace = GenerateTrace({.functions = 60, .days = 1, .seed = 3});
  ASSERT_TRUE(trace.ok()) << trace.status();
  const std::vector<std::string> policies = {"fixed:10m", "hybrid", "scheduled:5m,every=30m"};
  SimOptions options;
  options.seed = 11;
  absl::StatusOr<std::vector<PolicyResult>> one = Simulate(*trace, policies, options);
  options.threads = 3;
  absl::StatusOr<std::vector<PolicyResult>> three = Simulate(*trace, policies, options);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ(FormatCsv(*one), FormatCsv(*three));
  options.seed = 12;
  absl::StatusOr<std::vector<PolicyResult>> other = Simulate(*trace, policies, options);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(FormatCsv(*one), FormatCsv(*other));

  options.max_functions = 5;
  absl::StatusOr<std::vector<PolicyResult>> five = Simulate(*trace, policies, options);
  ASSERT_TRUE(five.ok());
  EXPECT_LE((*five)[0].functions, 5);

  EXPECT_EQ(Simulate(*trace, {"fixed:10m", "lru"}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Simulate(*trace, {}, options).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Memory budget ----------------------------------------------------------------------------

// A trace of functions with explicit calls, 1 GB instances.
Trace BudgetTrace(const std::vector<std::vector<Call>>& functions, absl::Duration length) {
  Trace trace;
  trace.length = length;
  for (size_t f = 0; f < functions.size(); ++f) {
    TraceFunction function;
    function.id = function.app = absl::StrCat("f", f);
    function.memory_mb = kOneGb;
    function.calls = functions[f];
    trace.functions.push_back(std::move(function));
  }
  return trace;
}

// Greedy-Dual, counted by hand with 2 GB for three 1 GB functions under fixed:10m. A calls at
// 0 s, B at 1, 2, 3 s (1 s each); at 10 s, C needs an instance while A's and B's are idle:
// priorities are clock 0 + 1 call per GB = 1 for A's and 0 + 3 = 3 for B's: A's goes, and the
// clock moves to 1. C's instance, idle from 11 s, gets 1 + 1 = 2. At 20 s A's call starts cold
// (and loads again: A had no instance left) and evicts C's (2, below B's 3). Without a budget,
// only the first call of each function is cold.
TEST(MemoryBudgetTest, EvictsTheLowestPriorityAcrossFunctions) {
  const Trace trace = BudgetTrace(
      {Calls({{absl::Seconds(0), absl::Seconds(1)}, {absl::Seconds(20), absl::Seconds(1)}}),
       Calls({{absl::Seconds(1), absl::Seconds(1)},
              {absl::Seconds(2), absl::Seconds(1)},
              {absl::Seconds(3), absl::Seconds(1)}}),
       Calls({{absl::Seconds(10), absl::Seconds(1)}})},
      absl::Minutes(1));
  SimOptions options;
  options.memory_budgets_gb = {2, 100};
  absl::StatusOr<std::vector<PolicyResult>> results = Simulate(trace, {"fixed:10m"}, options);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  const PolicyResult& free = (*results)[0];
  const PolicyResult& tight = (*results)[1];
  const PolicyResult& roomy = (*results)[2];
  EXPECT_EQ(free.cold_starts, 3);
  EXPECT_EQ(tight.policy, "fixed:10m @ 2 GB");
  EXPECT_EQ(tight.cold_starts, 4);        // A's second call too
  EXPECT_EQ(tight.load_cold_starts, 4);   // A had scaled to zero
  EXPECT_EQ(tight.budget_evictions, 2);   // A's instance at 10 s, then C's at 20 s
  EXPECT_EQ(tight.over_budget, 0);
  EXPECT_DOUBLE_EQ(tight.peak_memory_gb, 2);
  // A budget that holds everything changes nothing.
  EXPECT_EQ(roomy.cold_starts, free.cold_starts);
  EXPECT_DOUBLE_EQ(roomy.wasted_memory_gb_s, free.wasted_memory_gb_s);
  EXPECT_EQ(roomy.budget_evictions, 0);
  EXPECT_DOUBLE_EQ(roomy.peak_memory_gb, 3);
  EXPECT_THAT(FormatBudgets(*results), HasSubstr("fixed:10m @ 2 GB"));
  EXPECT_EQ(FormatComparisons(*results).find("@"), std::string::npos);
}

// The keep-alive policy does not prewarm back what the budget evicted, and calls that find the
// memory busy run over the budget.
TEST(MemoryBudgetTest, BusyMemoryRunsOverAndEvictedLevelsStayCold) {
  // Two concurrent 10 s calls of one function under a 1 GB budget: the second runs over it.
  Trace trace = BudgetTrace({Calls({{absl::Seconds(0), absl::Seconds(10)},
                                    {absl::Seconds(1), absl::Seconds(10)}})},
                            absl::Minutes(1));
  SimOptions options;
  options.memory_budgets_gb = {1};
  absl::StatusOr<std::vector<PolicyResult>> results = Simulate(trace, {"fixed:10m"}, options);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[1].over_budget, 1);
  EXPECT_EQ((*results)[1].cold_starts, 2);

  // A daily function under hybrid prewarms ahead of its third call (HybridPrewarmsADailyFunction);
  // a second function takes the whole budget just before: the prewarmed instance of the first is
  // evicted for it, and not prewarmed again, so the third call is cold.
  const std::vector<Call> daily = Calls({{absl::Hours(0), absl::Seconds(1)},
                                         {absl::Hours(24), absl::Seconds(1)},
                                         {absl::Hours(48), absl::Seconds(1)}});
  trace = BudgetTrace({daily, Calls({{absl::Hours(47) + absl::Minutes(59), absl::Seconds(1)}})},
                      absl::Hours(60));
  results = Simulate(trace, {"hybrid"}, options);
  ASSERT_TRUE(results.ok()) << results.status();
  const PolicyResult& free = (*results)[0];
  const PolicyResult& tight = (*results)[1];
  EXPECT_EQ(free.cold_starts, 3);  // the daily function's first two, the other's one
  EXPECT_EQ(tight.cold_starts, 4);
  EXPECT_GE(tight.budget_evictions, 1);
  EXPECT_EQ(tight.prewarm_loads, free.prewarm_loads);
}

TEST(MemoryBudgetTest, SameResultsOnAnyNumberOfThreads) {
  absl::StatusOr<Trace> trace = GenerateTrace({.functions = 60, .days = 1, .seed = 3});
  ASSERT_TRUE(trace.ok()) << trace.status();
  SimOptions options;
  options.memory_budgets_gb = {0.25, 1};
  absl::StatusOr<std::vector<PolicyResult>> one =
      Simulate(*trace, {"fixed:10m", "hybrid"}, options);
  options.threads = 3;
  absl::StatusOr<std::vector<PolicyResult>> three =
      Simulate(*trace, {"fixed:10m", "hybrid"}, options);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ(FormatBudgets(*one), FormatBudgets(*three));
  EXPECT_EQ(FormatCsv(*one), FormatCsv(*three));
  // A tighter budget evicts more.
  EXPECT_GT((*one)[2].budget_evictions, (*one)[4].budget_evictions);
  options.memory_budgets_gb = {0};
  EXPECT_EQ(Simulate(*trace, {"fixed:10m"}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SimulateTest, PercentileOverFunctions) {
  // Four functions with cold-start rates 1/1, 1/2, 1/4 and 1/8 under fixed:10m (calls a minute
  // apart are warm): the 75th percentile by nearest rank is the 3rd of 4, 1/2.
  Trace trace;
  trace.length = absl::Hours(1);
  for (int calls : {1, 2, 4, 8}) {
    TraceFunction f;
    f.id = absl::StrCat("f", calls);
    f.memory_mb = 100;
    for (int i = 0; i < calls; ++i) f.calls.push_back({absl::Minutes(i), absl::Seconds(1)});
    trace.functions.push_back(f);
  }
  absl::StatusOr<std::vector<PolicyResult>> results = Simulate(trace, {"fixed:10m"}, {});
  ASSERT_TRUE(results.ok());
  const PolicyResult& r = (*results)[0];
  EXPECT_EQ(r.functions, 4);
  EXPECT_EQ(r.invocations, 15);
  EXPECT_EQ(r.cold_starts, 4);
  EXPECT_DOUBLE_EQ(r.cold_start_rate, 4.0 / 15);
  EXPECT_DOUBLE_EQ(r.p75_function_cold_start_rate, 0.5);
}

TEST(SimulateTest, ClassifiesFunctionsAndBreaksDownByClass) {
  const absl::Duration day = absl::Hours(24);
  TraceFunction timer;
  timer.trigger = "timer";
  TraceFunction other;
  other.trigger = "http";
  std::vector<Call> steady, rare, bursty;
  for (int i = 0; i < 1440; ++i) steady.push_back({absl::Minutes(i), absl::Seconds(1)});
  for (int i = 0; i < 10; ++i) rare.push_back({absl::Hours(2 * i), absl::Seconds(1)});
  // 24 bursts an hour apart of 10 calls a second apart: the IAT CV is about 3.
  for (int b = 0; b < 24; ++b) {
    for (int i = 0; i < 10; ++i) {
      bursty.push_back({absl::Hours(b) + absl::Seconds(i), absl::Seconds(1)});
    }
  }
  EXPECT_EQ(ClassifyFunction(timer, steady, day), FunctionClass::kTimer);
  EXPECT_EQ(ClassifyFunction(other, steady, day), FunctionClass::kSteady);
  EXPECT_EQ(ClassifyFunction(other, rare, day), FunctionClass::kRare);
  EXPECT_EQ(ClassifyFunction(other, bursty, day), FunctionClass::kBursty);
  EXPECT_EQ(ClassifyFunction(other, {}, day), FunctionClass::kRare);

  Trace trace;
  trace.length = day;
  for (const auto& [id, calls] : {std::pair{"steady", steady}, std::pair{"bursty", bursty}}) {
    TraceFunction f;
    f.id = id;
    f.memory_mb = 1024;
    f.calls = calls;
    trace.functions.push_back(f);
  }
  absl::StatusOr<std::vector<PolicyResult>> results = Simulate(trace, {"fixed:10m"}, {});
  ASSERT_TRUE(results.ok());
  const PolicyResult& r = (*results)[0];
  const ClassResult& steady_class = r.by_class[static_cast<int>(FunctionClass::kSteady)];
  const ClassResult& bursty_class = r.by_class[static_cast<int>(FunctionClass::kBursty)];
  EXPECT_EQ(steady_class.functions, 1);
  EXPECT_EQ(steady_class.sum.invocations, 1440);
  EXPECT_EQ(steady_class.sum.cold_starts, 1);  // a call a minute: only the first is cold
  EXPECT_EQ(bursty_class.functions, 1);
  EXPECT_EQ(bursty_class.sum.cold_starts, 24);  // each burst after an hour's idle
  EXPECT_EQ(r.by_class[static_cast<int>(FunctionClass::kTimer)].functions, 0);
  EXPECT_DOUBLE_EQ(steady_class.sum.wasted_memory_gb_s + bursty_class.sum.wasted_memory_gb_s,
                   r.wasted_memory_gb_s);
  const std::string text = FormatBreakdown(*results);
  EXPECT_THAT(text, HasSubstr("fixed:10m by function class and instance level"));
  EXPECT_THAT(text, HasSubstr("  bursty      1        240       24"));
  EXPECT_THAT(text, HasSubstr("  all         2       1680       25"));
}

// ---- Generator ------------------------------------------------------------------------------

TEST(GenerateTraceTest, FollowsThePublishedShapeAndRoundTrips) {
  absl::StatusOr<Trace> trace = GenerateTrace({.functions = 400, .days = 1, .seed = 5});
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->functions.size(), 400u);
  int timers = 0, hourly_or_less = 0, per_minute_or_less = 0;
  for (const TraceFunction& f : trace->functions) {
    int64_t calls = 0;
    for (const MinuteCount& m : f.minutes) calls += m.count;
    timers += f.trigger == "timer";
    hourly_or_less += calls <= 24;
    per_minute_or_less += calls <= 1440;
    EXPECT_GT(f.memory_mb, 0);
    EXPECT_GE(f.duration, absl::Milliseconds(1));
    EXPECT_LE(f.duration, absl::Minutes(10));
  }
  // Figure 3: 15.6% timers; Figure 5: 45% at most hourly, 81% at most once a minute (loose
  // bounds for 400 draws; diurnal and bursty arrivals move counts around the drawn rates).
  EXPECT_NEAR(timers / 400.0, 0.156, 0.06);
  EXPECT_NEAR(hourly_or_less / 400.0, 0.45, 0.08);
  EXPECT_NEAR(per_minute_or_less / 400.0, 0.81, 0.08);

  // The same seed gives the same trace; it reads back as written.
  absl::StatusOr<Trace> again = GenerateTrace({.functions = 400, .days = 1, .seed = 5});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->functions[17].minutes.size(), trace->functions[17].minutes.size());
  const TempDir scratch;
  const std::string dir = scratch.path();
  ASSERT_TRUE(WriteAzure2019Trace(*trace, dir).ok());
  absl::StatusOr<Trace> read = ReadTrace({dir});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->functions_without_duration, 0);
  EXPECT_EQ(read->apps_without_memory, 0);
  size_t with_calls = 0;
  for (const TraceFunction& f : trace->functions) with_calls += !f.minutes.empty();
  ASSERT_EQ(read->functions.size(), with_calls);
  for (const TraceFunction& f : read->functions) {
    auto it = std::find_if(trace->functions.begin(), trace->functions.end(),
                           [&](const TraceFunction& g) { return g.id == f.id; });
    ASSERT_NE(it, trace->functions.end());
    EXPECT_EQ(f.trigger, it->trigger);
    ASSERT_EQ(f.minutes.size(), it->minutes.size());
    EXPECT_EQ(f.minutes.back().count, it->minutes.back().count);
    EXPECT_NEAR(absl::ToDoubleMilliseconds(f.duration), absl::ToDoubleMilliseconds(it->duration),
                1e-3);
  }

  EXPECT_FALSE(GenerateTrace({.functions = 0}).ok());
  EXPECT_FALSE(GenerateTrace({.functions = 1, .days = 0}).ok());
}

// ---- Reports --------------------------------------------------------------------------------

std::vector<PolicyResult> Results() {
  auto result = [](const char* spec, int64_t cold, int64_t loads, double memory) {
    PolicyResult r;
    r.policy = spec;
    r.options = Policy(spec);
    r.functions = 10;
    r.invocations = 1000;
    r.cold_starts = cold;
    r.load_cold_starts = loads;
    r.cold_start_rate = cold / 1000.0;
    r.wasted_memory_gb_s = memory;
    return r;
  };
  return {result("fixed:10m", 200, 100, 1000), result("fixed:0", 1000, 500, 0),
          result("hybrid", 100, 40, 1500), result("fixed:1h", 120, 60, 2000)};
}

TEST(ReportTest, ComparesWithTheInterpolatedFixedCurve) {
  const std::vector<PolicyResult> results = Results();
  // At 1500 GB-s the curve runs halfway from fixed:10m (200) to fixed:1h (120): 160.
  std::optional<CurveComparison> c = CompareWithFixedCurve(results, results[2]);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->lower, "fixed:10m");
  EXPECT_EQ(c->upper, "fixed:1h");
  EXPECT_DOUBLE_EQ(c->fixed_count, 160);
  EXPECT_DOUBLE_EQ(c->reduction, 1 - 100.0 / 160);
  c = CompareWithFixedCurve(results, results[2], &PolicyResult::load_cold_starts);
  ASSERT_TRUE(c.has_value());
  EXPECT_DOUBLE_EQ(c->fixed_count, 80);
  PolicyResult outside = results[2];
  outside.wasted_memory_gb_s = 5000;
  EXPECT_FALSE(CompareWithFixedCurve(results, outside).has_value());
  EXPECT_THAT(FormatComparisons(results), HasSubstr("hybrid: 100 cold starts at 1500.0 GB-s"));
  EXPECT_THAT(FormatComparisons(results), HasSubstr("37.5% fewer"));
  // hybrid's 40 loads against the curve's 80: fewer; 100 would be 25.0% more.
  std::vector<PolicyResult> more_loads = results;
  more_loads[2].load_cold_starts = 100;
  EXPECT_THAT(FormatComparisons(more_loads),
              HasSubstr("hybrid: 100 loads at 1500.0 GB-s; the fixed curve there (between "
                        "fixed:10m and fixed:1h) has 80: 25.0% more"));

  // A memory-scaled fixed policy is not on the fixed curve but compared with it, as hybrid is.
  std::vector<PolicyResult> with_scaled = results;
  with_scaled.push_back(results[0]);
  with_scaled.back().policy = "fixed:10m,by-memory";
  with_scaled.back().options = Policy("fixed:10m,by-memory");
  with_scaled.back().cold_starts = 150;
  with_scaled.back().wasted_memory_gb_s = 1500;
  c = CompareWithFixedCurve(with_scaled, results[2]);
  ASSERT_TRUE(c.has_value());
  EXPECT_DOUBLE_EQ(c->fixed_count, 160);
  EXPECT_THAT(FormatComparisons(with_scaled),
              HasSubstr("fixed:10m,by-memory: 150 cold starts at 1500.0 GB-s; the fixed curve "
                        "there (between fixed:10m and fixed:1h) has 160: 6.2% fewer"));
  // With a second by-memory point, hybrid is also compared with that curve: at 1500 GB-s it
  // runs from 150 (1400 GB-s) to 50 (1900 GB-s): 130, and hybrid's 100 is 23.1% fewer.
  with_scaled.back().wasted_memory_gb_s = 1400;
  with_scaled.push_back(with_scaled.back());
  with_scaled.back().policy = "fixed:1h,by-memory";
  with_scaled.back().options = Policy("fixed:1h,by-memory");
  with_scaled.back().cold_starts = 50;
  with_scaled.back().wasted_memory_gb_s = 1900;
  c = CompareWithFixedCurve(with_scaled, results[2], &PolicyResult::cold_starts,
                            /*by_memory=*/true);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->lower, "fixed:10m,by-memory");
  EXPECT_DOUBLE_EQ(c->fixed_count, 130);
  EXPECT_THAT(FormatComparisons(with_scaled),
              HasSubstr("hybrid: the by-memory fixed curve there (between fixed:10m,by-memory "
                        "and fixed:1h,by-memory) has 130 cold starts: 23.1% fewer"));
  with_scaled[2].cold_starts = 143;
  EXPECT_THAT(FormatComparisons(with_scaled), HasSubstr("has 130 cold starts: 10.0% more"));
}

TEST(ReportTest, TableCsvAndSvg) {
  std::vector<PolicyResult> results = Results();
  results.push_back(results[0]);
  results.back().policy = "scheduled:5m,window=08:00-09:00";
  results.back().options = Policy(results.back().policy);
  const std::string csv = FormatCsv(results);
  EXPECT_THAT(csv, HasSubstr("policy,functions,invocations,cold_starts,cold_start_rate,"
                             "p75_function_cold_start_rate,wasted_memory_gb_s"));
  EXPECT_THAT(csv, HasSubstr("\nfixed:10m,10,1000,200,0.200000,0.000000,1000.000,0,100\n"));
  EXPECT_THAT(csv, HasSubstr("\n\"scheduled:5m,window=08:00-09:00\",10,"));
  EXPECT_THAT(FormatTable(results), HasSubstr("hybrid"));
  const std::string svg = RenderSvg(results, "a <test>");
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("<polyline"));  // the fixed curve
  EXPECT_THAT(svg, HasSubstr(">1h</text>"));  // a fixed point's label
  EXPECT_THAT(svg, HasSubstr("font-weight=\"bold\">hybrid</text>"));
  EXPECT_THAT(svg, HasSubstr("a &lt;test&gt;"));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  EXPECT_THAT(svg, Not(HasSubstr("stroke-dasharray=\"6 4\"/>\n")));  // no scaled curve

  // Memory-scaled fixed policies get their own (dashed) curve, labelled by their timeout.
  for (const char* spec : {"fixed:10m,by-memory", "fixed:2h,by-memory"}) {
    results.push_back(results[0]);
    results.back().policy = spec;
    results.back().options = Policy(spec);
  }
  results.back().wasted_memory_gb_s = 1700;
  const std::string with_scaled = RenderSvg(results, "scaled");
  EXPECT_THAT(with_scaled, HasSubstr("stroke=\"#2ca02c\" stroke-width=\"2\" "
                                     "stroke-dasharray=\"6 4\"/>\n"));
  EXPECT_THAT(with_scaled, HasSubstr(">2h</text>"));
}

}  // namespace
}  // namespace fnhost::sim
