// Tests MetricsAggregator: counters, histogram bucket placement, quantiles, the Prometheus text
// it renders (escaping and grammar), and exact counts under concurrent recording.
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/strings.h"
#include "src/metrics/prometheus_text.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

InvocationEvent Call(std::string_view function, absl::Duration latency, bool cold = false,
                     absl::StatusCode outcome = absl::StatusCode::kOk) {
  InvocationEvent event;
  event.function = function;
  event.latency = latency;
  event.cold = cold;
  event.outcome = outcome;
  return event;
}

PoolEvent Pool(std::string_view function, PoolEventKind kind, std::string_view reason = "") {
  PoolEvent event;
  event.function = function;
  event.kind = kind;
  event.reason = reason;
  return event;
}

SnapshotEvent Snapshot(std::string_view function, SnapshotEventKind kind) {
  SnapshotEvent event;
  event.function = function;
  event.kind = kind;
  return event;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of the sample whose name and labels are exactly `series`, if rendered.
std::optional<std::string> Value(const std::string& text, std::string_view series) {
  const std::string prefix = std::string(series) + " ";
  for (const std::string& line : Lines(text)) {
    if (line.starts_with(prefix)) return line.substr(prefix.size());
  }
  return std::nullopt;
}

// Checks `text` against the text exposition format 0.0.4: every line is `# HELP`, `# TYPE` or
// a sample `name{label="value",...} value`; each family has one HELP then one TYPE, before its
// samples, and every sample belongs to the family last typed. Returns the problems found and
// fills `families` with the family names in order.
std::vector<std::string> CheckExposition(const std::string& text,
                                         std::vector<std::string>* families) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*))"
                                  R"((\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")"
                                  R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})?)"
                                  R"( (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN))");
  std::vector<std::string> problems;
  std::set<std::string> seen;
  std::string help_for, family, type;
  if (!text.empty() && text.back() != '\n') problems.push_back("no final line feed");
  for (const std::string& line : Lines(text)) {
    std::smatch match;
    if (std::regex_match(line, match, kHelp)) {
      if (!seen.insert(match[1]).second) problems.push_back("family repeated: " + line);
      help_for = match[1];
      families->push_back(match[1]);
    } else if (std::regex_match(line, match, kType)) {
      if (match[1] != help_for) problems.push_back("TYPE without its HELP: " + line);
      family = match[1];
      type = match[2];
      help_for.clear();
    } else if (std::regex_match(line, match, kSample)) {
      const std::string name = match[1];
      const bool belongs =
          name == family ||
          (type == "histogram" &&
           (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
      if (!belongs) problems.push_back("sample outside its family: " + line);
    } else {
      problems.push_back("not in the grammar: " + line);
    }
  }
  return problems;
}

TEST(PrometheusTextTest, FormatsNumbersLikeClientGolang) {
  EXPECT_EQ(internal::FormatPromDouble(0.0), "0");
  EXPECT_EQ(internal::FormatPromDouble(1e-6), "1e-06");
  EXPECT_EQ(internal::FormatPromDouble(2.5e-5), "2.5e-05");
  EXPECT_EQ(internal::FormatPromDouble(1e-4), "0.0001");
  EXPECT_EQ(internal::FormatPromDouble(5e-4), "0.0005");
  EXPECT_EQ(internal::FormatPromDouble(60.0), "60");
  EXPECT_EQ(internal::FormatPromDouble(123456.5), "123456.5");
  EXPECT_EQ(internal::FormatPromDouble(1e6), "1e+06");
  EXPECT_EQ(internal::FormatPromDouble(-2.5), "-2.5");
  EXPECT_EQ(internal::FormatPromDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(internal::FormatPromDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(internal::FormatPromDouble(std::nan("")), "NaN");
}

TEST(PrometheusTextTest, EscapesBackslashQuoteAndLineFeedOnly) {
  EXPECT_EQ(internal::EscapeLabelValue(""), "");
  EXPECT_EQ(internal::EscapeLabelValue("a\\b\"c\nd\te"), "a\\\\b\\\"c\\nd\te");
}

TEST(MetricsAggregatorTest, CountsEventsPerFunction) {
  MetricsAggregator metrics;
  metrics.OnInvocation(Call("f", absl::Microseconds(5)));
  metrics.OnInvocation(Call("f", absl::Microseconds(5)));
  metrics.OnInvocation(Call("f", absl::Milliseconds(3), /*cold=*/true));
  metrics.OnInvocation(Call("f", absl::Microseconds(5), false, absl::StatusCode::kInternal));
  metrics.OnInvocation(Call("f", absl::Microseconds(5), true, absl::StatusCode::kInternal));
  metrics.OnInvocation(Call("f", absl::Seconds(1), false, absl::StatusCode::kDeadlineExceeded));
  metrics.OnInvocation(Call("g", absl::Microseconds(5)));
  ColdStartEvent cold;
  cold.function = "f";
  cold.total = absl::Milliseconds(2);
  metrics.OnColdStart(cold);
  metrics.OnColdStart(cold);
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kEviction));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kEviction));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kUnload));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kUnloadFailed));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kReload));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kPrewarm));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kBudgetEviction));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kRejected, "queue_full"));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kRejected, "queue_full"));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kRejected, "deadline"));
  metrics.OnSnapshotEvent(Snapshot("f", SnapshotEventKind::kWritten));
  metrics.OnSnapshotEvent(Snapshot("f", SnapshotEventKind::kRestored));
  metrics.OnSnapshotEvent(Snapshot("f", SnapshotEventKind::kRestored));
  metrics.OnSnapshotEvent(Snapshot("f", SnapshotEventKind::kRejected));

  const MetricsAggregator::FunctionTotals f = metrics.Totals("f");
  EXPECT_EQ(f.invocations, 6);
  EXPECT_EQ(f.cold_invocations, 2);
  EXPECT_EQ(f.errors, 3);  // a timeout is an error too
  EXPECT_EQ(f.timeouts, 1);
  EXPECT_EQ(f.coldstarts, 2);
  EXPECT_EQ(f.evictions, 2);
  EXPECT_EQ(f.budget_evictions, 1);
  EXPECT_EQ(f.unloads, 1);
  EXPECT_EQ(f.failed_unloads, 1);
  EXPECT_EQ(f.reloads, 1);
  EXPECT_EQ(f.rejected, 3);
  EXPECT_EQ(f.snapshots_restored, 2);
  EXPECT_EQ(f.snapshots_rejected, 1);
  EXPECT_EQ(metrics.Totals("g").invocations, 1);
  EXPECT_EQ(metrics.Totals("g").errors, 0);
  EXPECT_EQ(metrics.Totals("unknown").invocations, 0);

  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(faas_invocations_total{function="f",start="warm"})"), "4");
  EXPECT_EQ(Value(text, R"(faas_invocations_total{function="f",start="cold"})"), "2");
  EXPECT_EQ(Value(text, R"(faas_invocations_total{function="g",start="cold"})"), "0");
  EXPECT_EQ(Value(text, R"(faas_errors_total{function="f",code="INTERNAL"})"), "2");
  EXPECT_EQ(Value(text, R"(faas_errors_total{function="f",code="DEADLINE_EXCEEDED"})"), "1");
  EXPECT_EQ(Value(text, R"(faas_errors_total{function="g",code="INTERNAL"})"), std::nullopt);
  EXPECT_EQ(Value(text, R"(faas_timeouts_total{function="f"})"), "1");
  EXPECT_EQ(Value(text, R"(faas_timeouts_total{function="g"})"), "0");
  EXPECT_EQ(Value(text, R"(faas_coldstarts_total{function="f"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="eviction"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="unload"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="unload_failed"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="reload"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="prewarm"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_pool_events_total{function="f",event="budget_eviction"})"),
            "1");
  EXPECT_EQ(Value(text, R"(fnhost_rejected_calls_total{function="f",reason="queue_full"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_rejected_calls_total{function="f",reason="deadline"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_snapshot_events_total{function="f",event="written"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_snapshot_events_total{function="f",event="write_failed"})"), "0");
  EXPECT_EQ(Value(text, R"(fnhost_snapshot_events_total{function="f",event="restored"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_snapshot_events_total{function="f",event="rejected"})"), "1");
}

TEST(MetricsAggregatorTest, InvokeHistogramBucketsAreInclusiveAndCumulative) {
  MetricsAggregator metrics;
  metrics.OnInvocation(Call("f", absl::ZeroDuration()));
  metrics.OnInvocation(Call("f", absl::Milliseconds(1)));  // exactly on le="0.001"
  metrics.OnInvocation(Call("f", absl::Milliseconds(1) + absl::Nanoseconds(1)));
  metrics.OnInvocation(Call("f", absl::Seconds(60)));  // exactly on the highest bound
  metrics.OnInvocation(Call("f", absl::Seconds(120)));
  const std::string text = metrics.RenderPrometheus();

  const auto bucket = [&](std::string_view le) {
    return Value(text, std::string(R"(faas_invoke_duration_seconds_bucket{function="f",)") +
                           R"(start="warm",le=")" + std::string(le) + "\"}");
  };
  EXPECT_EQ(bucket("1e-06"), "1");
  EXPECT_EQ(bucket("0.0005"), "1");
  EXPECT_EQ(bucket("0.001"), "2");
  EXPECT_EQ(bucket("0.0025"), "3");
  EXPECT_EQ(bucket("10"), "3");
  EXPECT_EQ(bucket("60"), "4");
  EXPECT_EQ(bucket("+Inf"), "5");
  EXPECT_EQ(Value(text, R"(faas_invoke_duration_seconds_count{function="f",start="warm"})"), "5");
  EXPECT_EQ(Value(text, R"(faas_invoke_duration_seconds_sum{function="f",start="warm"})"),
            "180.002000001");
  // One bucket line per bound plus +Inf, and no cold series without cold samples.
  int bucket_lines = 0;
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("faas_invoke_duration_seconds_bucket{")) ++bucket_lines;
  }
  EXPECT_EQ(bucket_lines, std::size(kLatencyBucketsSeconds) + 1);
  EXPECT_THAT(text, Not(HasSubstr(R"(start="cold",le=)")));
}

TEST(MetricsAggregatorTest, ColdStartRecordsInitDurationBySourceAndThePhasesThatRan) {
  MetricsAggregator metrics;
  ColdStartEvent event;
  event.function = "f";
  event.state_source = StateSource::kRestore;
  event.file_checks = absl::Microseconds(10);
  event.dlopen = absl::ZeroDuration();  // the module was already loaded
  event.abi_check = absl::Microseconds(1);
  event.state_init = absl::Milliseconds(2);
  event.instance_create = absl::Microseconds(5);
  event.total = absl::Microseconds(2500);
  metrics.OnColdStart(event);
  ColdStartEvent failed = event;
  failed.outcome = absl::StatusCode::kFailedPrecondition;
  failed.total = absl::Seconds(30);
  metrics.OnColdStart(failed);
  const std::string text = metrics.RenderPrometheus();

  EXPECT_EQ(metrics.Totals("f").coldstarts, 2);
  EXPECT_EQ(
      Value(text, R"(faas_init_duration_seconds_bucket{function="f",source="restore",le="0.001"})"),
      "0");
  EXPECT_EQ(
      Value(text,
            R"(faas_init_duration_seconds_bucket{function="f",source="restore",le="0.0025"})"),
      "1");
  EXPECT_EQ(Value(text, R"(faas_init_duration_seconds_count{function="f",source="restore"})"), "1");
  EXPECT_EQ(Value(text, R"(faas_init_duration_seconds_sum{function="f",source="restore"})"),
            "0.0025");
  EXPECT_EQ(Value(text, R"(faas_init_duration_seconds_count{function="f",source="init"})"),
            std::nullopt);
  const auto phase = [&](std::string_view suffix, std::string_view labels) {
    return Value(text, absl::StrCat("fnhost_coldstart_phase_duration_seconds_", AsAbsl(suffix),
                                    R"({function="f",phase=)", AsAbsl(labels), "}"));
  };
  EXPECT_EQ(phase("bucket", R"("abi_check",le="1e-06")"), "1");
  EXPECT_EQ(phase("bucket", R"("file_checks",le="1e-05")"), "1");
  EXPECT_EQ(phase("bucket", R"("file_checks",le="5e-06")"), "0");
  EXPECT_EQ(phase("count", R"("state_init")"), "1");
  EXPECT_EQ(phase("count", R"("instance_create")"), "1");
  EXPECT_THAT(text, Not(HasSubstr(R"(phase="dlopen")")));
}

TEST(MetricsAggregatorTest, GaugesKeepTheLastValueAndAppearOnlyOnceReported) {
  MetricsAggregator metrics;
  PoolGauges gauges;
  gauges.function = "f";
  gauges.idle_instances = 3;
  gauges.busy_instances = 2;
  gauges.starting_instances = 1;
  gauges.queued_calls = 7;
  gauges.loaded = true;
  metrics.OnPoolGauges(gauges);
  gauges.idle_instances = 0;
  gauges.queued_calls = 0;
  gauges.loaded = false;
  metrics.OnPoolGauges(gauges);
  metrics.OnInvocation(Call("g", absl::Microseconds(1)));
  const std::string text = metrics.RenderPrometheus();

  EXPECT_EQ(Value(text, R"(fnhost_pool_idle_instances{function="f"})"), "0");
  EXPECT_EQ(Value(text, R"(fnhost_pool_busy_instances{function="f"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_pool_starting_instances{function="f"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_pool_queued_calls{function="f"})"), "0");
  EXPECT_EQ(Value(text, R"(fnhost_module_loaded{function="f"})"), "0");
  EXPECT_EQ(Value(text, R"(fnhost_pool_idle_instances{function="g"})"), std::nullopt);
}

TEST(MetricsAggregatorTest, QuantilesInterpolateInsideTheBucket) {
  MetricsAggregator metrics;
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 0.5), absl::ZeroDuration());
  // 4 samples in (0.5ms, 1ms], 6 in (1ms, 2.5ms].
  for (int i = 0; i < 4; ++i) metrics.OnInvocation(Call("f", absl::Microseconds(800)));
  for (int i = 0; i < 6; ++i) metrics.OnInvocation(Call("f", absl::Microseconds(2000)));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 0.2), absl::Microseconds(750));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 0.4), absl::Microseconds(1000));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 0.75), absl::Microseconds(1875));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 1.0), absl::Microseconds(2500));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 0.0), absl::Microseconds(500));
  // Out-of-range q is clamped; NaN counts as 0.
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, 7.0), absl::Microseconds(2500));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, -1.0), absl::Microseconds(500));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", false, std::nan("")), absl::Microseconds(500));
  // Cold samples are kept apart; above the highest bound reads as that bound.
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", true, 0.5), absl::ZeroDuration());
  metrics.OnInvocation(Call("f", absl::Seconds(90), /*cold=*/true));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("f", true, 0.5), absl::Seconds(60));
  EXPECT_EQ(metrics.InvokeLatencyQuantile("nobody", true, 0.5), absl::ZeroDuration());
}

TEST(MetricsAggregatorTest, EscapesFunctionNamesInLabelValues) {
  MetricsAggregator metrics;
  const std::string name = "a\"b\\c\nd";
  metrics.OnInvocation(Call(name, absl::Microseconds(1)));
  metrics.OnPoolEvent(Pool(name, PoolEventKind::kRejected, "quote\"d"));
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(faas_invocations_total{function="a\"b\\c\nd",start="warm"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_rejected_calls_total{function="a\"b\\c\nd",reason="quote\"d"})"),
            "1");
  EXPECT_EQ(metrics.Totals(name).invocations, 1);
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
}

TEST(MetricsAggregatorTest, RendersEveryFamilyOnceInTheExpositionGrammar) {
  MetricsAggregator metrics;
  for (const char* function : {"zeta", "alpha", "mid"}) {
    metrics.OnInvocation(Call(function, absl::Microseconds(3), true, absl::StatusCode::kInternal));
    metrics.OnInvocation(Call(function, absl::Microseconds(30)));
    ColdStartEvent cold;
    cold.function = function;
    cold.file_checks = cold.dlopen = cold.abi_check = cold.state_init = cold.instance_create =
        absl::Microseconds(7);
    cold.total = absl::Microseconds(35);
    metrics.OnColdStart(cold);
    PoolGauges gauges;
    gauges.function = function;
    metrics.OnPoolGauges(gauges);
    metrics.OnPoolEvent(Pool(function, PoolEventKind::kRejected, "queue_full"));
    metrics.OnPoolEvent(Pool(function, PoolEventKind::kReload, "kept_state"));
    metrics.OnSnapshotEvent(Snapshot(function, SnapshotEventKind::kWriteFailed));
    // What modules define through the built-in metrics service.
    using Kind = ModuleMetricDefinition::Kind;
    constexpr double kBounds[] = {1, 10};
    metrics.DefineModuleMetric({.function = function, .name = "sizes", .help = "Sizes\nseen",
                                .kind = Kind::kHistogram, .bounds = kBounds})
        ->Record(5);
    metrics.DefineModuleMetric({.function = function, .name = "calls", .kind = Kind::kCounter})
        ->Add(2);
    metrics.DefineModuleMetric({.function = function, .name = "depth", .kind = Kind::kGauge})
        ->Set(-3);
  }
  metrics.OnHostGauges(HostGauges{});
  const std::string text = metrics.RenderPrometheus();
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
  EXPECT_THAT(families,
              ElementsAre("faas_invocations_total", "faas_errors_total", "faas_timeouts_total",
                          "faas_coldstarts_total", "faas_init_duration_seconds",
                          "faas_invoke_duration_seconds", "fnhost_coldstart_phase_duration_seconds",
                          "fnhost_version_invocations_total", "fnhost_version_errors_total",
                          "fnhost_version_coldstarts_total",
                          "fnhost_version_invoke_duration_seconds",
                          "fnhost_pool_idle_instances", "fnhost_pool_busy_instances",
                          "fnhost_pool_starting_instances", "fnhost_pool_queued_calls",
                          "fnhost_module_loaded", "fnhost_canary_share",
                          "fnhost_memory_budget_bytes", "fnhost_memory_used_bytes",
                          "fnhost_memory_peak_bytes", "fnhost_memory_waiting_calls",
                          "fnhost_pool_events_total", "fnhost_rejected_calls_total",
                          "fnhost_reloads_total", "fnhost_snapshot_events_total",
                          "fnhost_worker_spawn_duration_seconds", "fnhost_isolation_mode",
                          "fnhost_worker_crashes_total", "fnhost_sandbox_in_force",
                          "fnhost_sandbox_denials_total", "fnhost_module_calls_total",
                          "fnhost_module_depth", "fnhost_module_sizes"));
  // Functions come in name order within each family.
  const size_t alpha = text.find(R"(faas_timeouts_total{function="alpha"})");
  const size_t mid = text.find(R"(faas_timeouts_total{function="mid"})");
  const size_t zeta = text.find(R"(faas_timeouts_total{function="zeta"})");
  ASSERT_NE(zeta, std::string::npos);
  EXPECT_LT(alpha, mid);
  EXPECT_LT(mid, zeta);
  // Rendering is deterministic.
  EXPECT_EQ(metrics.RenderPrometheus(), text);
}

TEST(MetricsAggregatorTest, AnEmptyAggregatorRendersOnlyFamilyHeaders) {
  MetricsAggregator metrics;
  const std::string text = metrics.RenderPrometheus();
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
  EXPECT_EQ(families.size(), 26);
  for (const std::string& line : Lines(text)) EXPECT_TRUE(line.starts_with("# ")) << line;
}

TEST(MetricsAggregatorTest, ModuleMetricsAreSeriesOfTheirFunction) {
  MetricsAggregator metrics;
  using Kind = ModuleMetricDefinition::Kind;
  ModuleMetric* a = metrics.DefineModuleMetric(
      {.function = "a", .name = "hits", .help = "Cache hits", .kind = Kind::kCounter});
  ModuleMetric* b = metrics.DefineModuleMetric({.function = "b", .name = "hits"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  // Defined again (a reload, a forked worker): the same series.
  EXPECT_EQ(metrics.DefineModuleMetric({.function = "a", .name = "hits"}), a);
  // A known name is one kind for every function.
  EXPECT_EQ(metrics.DefineModuleMetric({.function = "c", .name = "hits", .kind = Kind::kGauge}),
            nullptr);
  a->Add(3);
  a->Add(4);
  b->Add(1);
  constexpr double kBounds[] = {1, 10};
  ModuleMetric* latency = metrics.DefineModuleMetric(
      {.function = "a", .name = "lat", .kind = Kind::kHistogram, .bounds = kBounds});
  for (double value : {0.5, 5.0, 50.0}) latency->Record(value);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(fnhost_module_hits_total{function="a"})"), "7");
  EXPECT_EQ(Value(text, R"(fnhost_module_hits_total{function="b"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_module_lat_bucket{function="a",le="1"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_module_lat_bucket{function="a",le="10"})"), "2");
  EXPECT_EQ(Value(text, R"(fnhost_module_lat_bucket{function="a",le="+Inf"})"), "3");
  EXPECT_EQ(Value(text, R"(fnhost_module_lat_sum{function="a"})"), "55.5");
  EXPECT_THAT(text, HasSubstr("# HELP fnhost_module_hits_total Cache hits\n"));
}

TEST(MetricsAggregatorTest, ReloadsAreCountedByPath) {
  MetricsAggregator metrics;
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kReload, "kept_state"));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kReload, "init"));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kReloadFailed, "kept_state"));
  const MetricsAggregator::FunctionTotals totals = metrics.Totals("f");
  EXPECT_EQ(totals.reloads, 2);
  EXPECT_EQ(totals.reloads_kept_state, 1);
  EXPECT_EQ(totals.reloads_failed, 1);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(fnhost_reloads_total{function="f",path="failed"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_reloads_total{function="f",path="init"})"), "1");
}

TEST(MetricsAggregatorTest, IsolationModeIsTheLatestZygotesForkPoint) {
  MetricsAggregator metrics;
  WorkerEvent started{.function = "f", .kind = WorkerEventKind::kZygoteStarted};
  started.fork_point = "fork_after_init";
  metrics.OnWorkerEvent(started);
  metrics.OnInvocation(Call("in_process", absl::Microseconds(1)));
  std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(fnhost_isolation_mode{function="f",mode="fork_after_init"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_isolation_mode{function="f",mode="fork_before_init"})"), "0");
  EXPECT_EQ(metrics.Totals("f").isolation_mode, "fork_after_init");
  // A function without a zygote has no series.
  EXPECT_THAT(text, Not(HasSubstr(R"(fnhost_isolation_mode{function="in_process")")));
  EXPECT_EQ(metrics.Totals("in_process").isolation_mode, "");

  started.fork_point = "fork_before_init";
  metrics.OnWorkerEvent(started);
  text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(fnhost_isolation_mode{function="f",mode="fork_after_init"})"), "0");
  EXPECT_EQ(Value(text, R"(fnhost_isolation_mode{function="f",mode="fork_before_init"})"), "1");
  EXPECT_EQ(metrics.Totals("f").isolation_mode, "fork_before_init");
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
}

TEST(MetricsAggregatorTest, HostGaugesAppearOnceAHostWithABudgetReportsThem) {
  MetricsAggregator metrics;
  metrics.OnInvocation(Call("f", absl::Microseconds(1)));
  EXPECT_EQ(metrics.RenderPrometheus().find("fnhost_memory_"), std::string::npos);
  metrics.OnHostGauges(HostGauges{.memory_budget_bytes = 1 << 30,
                                  .memory_used_bytes = 3 << 20,
                                  .memory_peak_bytes = 5 << 20,
                                  .memory_waiting_calls = 2});
  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, "fnhost_memory_budget_bytes"), "1073741824");
  EXPECT_EQ(Value(text, "fnhost_memory_used_bytes"), "3145728");
  EXPECT_EQ(Value(text, "fnhost_memory_peak_bytes"), "5242880");
  EXPECT_EQ(Value(text, "fnhost_memory_waiting_calls"), "2");
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
}

// What a worker's sandbox has in force is the latest report's; denials add up by syscall.
TEST(MetricsAggregatorTest, SandboxInForceAndDenialsBySyscall) {
  MetricsAggregator metrics;
  const SandboxLayerInForce rlimit[] = {{"level", "strict"}, {"memory", "rlimit_as"}};
  WorkerEvent in_force{.function = "f", .kind = WorkerEventKind::kSandboxInForce};
  in_force.sandbox_layers = rlimit;
  metrics.OnWorkerEvent(in_force);
  const SandboxLayerInForce cgroup[] = {{"level", "strict"}, {"memory", "cgroup"}};
  in_force.sandbox_layers = cgroup;
  metrics.OnWorkerEvent(in_force);
  WorkerEvent denied{.function = "f", .kind = WorkerEventKind::kSandboxDenied};
  denied.syscall = "execve";
  denied.count = 2;
  metrics.OnWorkerEvent(denied);
  metrics.OnWorkerEvent(denied);
  denied.syscall = "ptrace";
  denied.count = 1;
  metrics.OnWorkerEvent(denied);

  const std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, R"(fnhost_sandbox_in_force{function="f",layer="memory",mechanism="cgroup"})"),
            "1");
  EXPECT_THAT(text, Not(HasSubstr("rlimit_as")));
  EXPECT_EQ(Value(text, R"(fnhost_sandbox_in_force{function="f",layer="level",mechanism="strict"})"),
            "1");
  EXPECT_EQ(Value(text, R"(fnhost_sandbox_denials_total{function="f",syscall="execve"})"), "4");
  EXPECT_EQ(Value(text, R"(fnhost_sandbox_denials_total{function="f",syscall="ptrace"})"), "1");
  const MetricsAggregator::FunctionTotals totals = metrics.Totals("f");
  EXPECT_EQ(totals.sandbox_denials, 5);
  EXPECT_EQ(totals.sandbox_in_force.at("memory"), "cgroup");
  EXPECT_TRUE(metrics.Totals("other").sandbox_in_force.empty());
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
}

TEST(MetricsAggregatorTest, ToleratesOutOfRangeInputs) {
  MetricsAggregator metrics;
  metrics.OnInvocation(Call("f", -absl::Seconds(1)));  // a clock that went back
  metrics.OnInvocation(Call("f", absl::InfiniteDuration()));
  metrics.OnInvocation(Call("f", absl::Microseconds(1), false, static_cast<absl::StatusCode>(99)));
  metrics.OnPoolEvent(Pool("f", static_cast<PoolEventKind>(99)));
  metrics.OnPoolEvent(Pool("f", PoolEventKind::kRejected, ""));
  metrics.OnSnapshotEvent(Snapshot("f", static_cast<SnapshotEventKind>(99)));
  ColdStartEvent cold;
  cold.function = "f";
  cold.state_source = static_cast<StateSource>(99);
  cold.total = absl::Milliseconds(1);
  metrics.OnColdStart(cold);
  metrics.OnInvocation(Call("", absl::Microseconds(1)));
  const std::string text = metrics.RenderPrometheus();

  EXPECT_EQ(
      Value(text, R"(faas_invoke_duration_seconds_bucket{function="f",start="warm",le="1e-06"})"),
      "2");  // the negative one, as zero, and the 1 µs one
  EXPECT_EQ(
      Value(text, R"(faas_invoke_duration_seconds_bucket{function="f",start="warm",le="60"})"),
      "2");
  EXPECT_EQ(Value(text, R"(faas_invoke_duration_seconds_count{function="f",start="warm"})"), "3");
  // The infinite latency counts as 24 hours in the sum, plus the 1 µs.
  EXPECT_EQ(Value(text, R"(faas_invoke_duration_seconds_sum{function="f",start="warm"})"),
            "86400.000001");
  EXPECT_EQ(Value(text, R"(faas_errors_total{function="f",code="UNKNOWN"})"), "1");
  EXPECT_EQ(Value(text, R"(fnhost_rejected_calls_total{function="f",reason="unknown"})"), "1");
  EXPECT_EQ(Value(text, R"(faas_coldstarts_total{function="f"})"), "1");
  EXPECT_THAT(text, Not(HasSubstr("faas_init_duration_seconds_count{")));
  EXPECT_EQ(Value(text, R"(faas_invocations_total{function="",start="warm"})"), "1");
  const MetricsAggregator::FunctionTotals totals = metrics.Totals("f");
  EXPECT_EQ(totals.evictions + totals.unloads + totals.failed_unloads + totals.reloads, 0);
  EXPECT_EQ(totals.snapshots_restored + totals.snapshots_rejected, 0);
  std::vector<std::string> families;
  EXPECT_THAT(CheckExposition(text, &families), IsEmpty());
}

// The event that thread-local iteration `i` records; the same for every thread.
struct Planned {
  const char* function;
  bool cold;
  absl::StatusCode outcome;
  bool rejected;
};
Planned PlanFor(int i) {
  static const char* const kFunctions[] = {"a", "b", "c", "d"};
  return {kFunctions[i % 4], i % 10 == 0,
          i % 7 == 0 ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kOk, i % 5 == 0};
}

TEST(MetricsAggregatorTest, ConcurrentRecordingWhileRenderingLosesNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  MetricsAggregator metrics;
  std::atomic<int> running{kThreads};
  std::atomic<int> renders{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      const int renders_at_start = renders.load();
      for (int i = 0; i < kPerThread; ++i) {
        // Halfway, wait for a render that began after this writer did, so that rendering
        // overlaps recording however the threads are scheduled.
        if (i == kPerThread / 2) {
          EXPECT_TRUE(testing::WaitUntil([&] { return renders.load() >= renders_at_start + 2; }));
        }
        const Planned plan = PlanFor(i);
        metrics.OnInvocation(
            Call(plan.function, absl::Microseconds(i % 3000), plan.cold, plan.outcome));
        if (plan.rejected) {
          metrics.OnPoolEvent(Pool(plan.function, PoolEventKind::kRejected,
                                   i % 3 == 0 ? "queue_full" : "deadline"));
        }
      }
      running.fetch_sub(1);
    });
  }
  std::thread renderer([&] {
    while (running.load() > 0) {
      EXPECT_THAT(metrics.RenderPrometheus(), HasSubstr("# TYPE faas_invocations_total counter"));
      metrics.Totals("a");
      ++renders;
    }
  });
  for (std::thread& writer : writers) writer.join();
  renderer.join();

  std::map<std::string, MetricsAggregator::FunctionTotals> expected;
  for (int i = 0; i < kPerThread; ++i) {
    const Planned plan = PlanFor(i);
    MetricsAggregator::FunctionTotals& e = expected[plan.function];
    e.invocations += kThreads;
    e.cold_invocations += plan.cold ? kThreads : 0;
    e.timeouts += plan.outcome == absl::StatusCode::kOk ? 0 : kThreads;
    e.rejected += plan.rejected ? kThreads : 0;
  }
  const std::string text = metrics.RenderPrometheus();
  for (const auto& [function, e] : expected) {
    SCOPED_TRACE(function);
    const MetricsAggregator::FunctionTotals got = metrics.Totals(function);
    EXPECT_EQ(got.invocations, e.invocations);
    EXPECT_EQ(got.cold_invocations, e.cold_invocations);
    EXPECT_EQ(got.errors, e.timeouts);
    EXPECT_EQ(got.timeouts, e.timeouts);
    EXPECT_EQ(got.rejected, e.rejected);
    const std::string labels = R"({function=")" + function + R"(",start="warm"})";
    EXPECT_EQ(Value(text, "faas_invocations_total" + labels),
              std::to_string(e.invocations - e.cold_invocations));
    EXPECT_EQ(Value(text, "faas_invoke_duration_seconds_count" + labels),
              std::to_string(e.invocations - e.cold_invocations));
  }
}

}  // namespace
}  // namespace fnhost
