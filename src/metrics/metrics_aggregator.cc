// MetricsAggregator: the built-in MetricsSink. Keeps one record of atomic counters and
// histograms per function and renders them in the Prometheus text format.
//
// Thread-safety: every method may be called from any thread. Recording looks the function's
// record up under a shared (read) lock and then only does relaxed atomic adds; the exclusive
// lock is taken only the first time a function (or a rejection reason) is seen. Records are
// never removed, so a pointer to one stays valid after the lock is released. A render that
// runs while others record sees each counter at some recent value, not an atomic cut.

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "fnhost/metrics.h"
#include "src/common/strings.h"
#include "src/metrics/function_record.h"
#include "src/metrics/grow_only_map.h"
#include "src/metrics/histogram.h"
#include "src/metrics/host_gauges.h"
#include "src/metrics/prometheus_text.h"
#include "src/metrics/sandbox_metrics.h"

namespace fnhost {
namespace {

using internal::GrowOnlyMap;
using internal::LatencyHistogram;
using internal::PromType;

using internal::Add;
using internal::Counter;
using internal::FunctionHistograms;
using internal::FunctionRecord;
using internal::Gauge;
using internal::Get;
using internal::InvokeDuration;
using internal::SumOf;
using internal::Timeouts;
using internal::VersionRecord;
using internal::kForkPointNames;
using internal::kNumStatusCodes;
using internal::kPhaseNames;
using internal::kPoolEventNames;
using internal::kSnapshotEventNames;
using internal::kSourceNames;
using internal::kStartNames;
using enum internal::PoolCounter;

}  // namespace

struct MetricsAggregator::Impl {
  GrowOnlyMap<FunctionRecord> functions;
  internal::HostGaugeRecord host;
  internal::SandboxMetrics sandbox;
};

MetricsAggregator::MetricsAggregator() : impl_(std::make_unique<Impl>()) {}
MetricsAggregator::~MetricsAggregator() = default;

namespace {

// One observe per call: into the version's histogram, or the function's own when the call
// was refused before a version was chosen. Errors are counted at both levels.
void RecordInvocation(FunctionRecord& record, VersionRecord* version,
                      const InvocationEvent& event) {
  if (version != nullptr) {
    version->invoke_duration[event.cold].Observe(event.latency);
  } else {
    record.Histograms().unversioned_invoke_duration[event.cold].Observe(event.latency);
  }
  if (event.outcome == absl::StatusCode::kOk) return;
  if (version != nullptr) Add(version->errors);
  int code = static_cast<int>(event.outcome);
  if (code < 0 || code >= kNumStatusCodes) code = static_cast<int>(absl::StatusCode::kUnknown);
  Add(record.errors[code]);
}

// Bound to one function's record (records are never removed), so recording takes no lock.
class BoundRecorder final : public InvocationRecorder {
 public:
  explicit BoundRecorder(FunctionRecord* record) : record_(record) {}
  void Record(const InvocationEvent& event) override {
    RecordInvocation(*record_,
                     event.module_version.empty() ? nullptr : &FindVersion(event.module_version),
                     event);
  }

 private:
  // A function runs one version, two during a traffic split or a reload's drain: the last two
  // seen are cached, so the warm path compares a short string instead of taking a lock.
  VersionRecord& FindVersion(std::string_view version) {
    for (const std::atomic<VersionRecord*>& slot : recent_) {
      VersionRecord* record = slot.load(std::memory_order_acquire);
      if (record != nullptr && record->version == version) return *record;
    }
    VersionRecord& record = record_->versions.GetOrCreate(version);
    recent_[next_.fetch_add(1, std::memory_order_relaxed) % recent_.size()].store(
        &record, std::memory_order_release);
    return record;
  }

  FunctionRecord* const record_;
  std::array<std::atomic<VersionRecord*>, 2> recent_{};
  std::atomic<uint32_t> next_{0};
};

}  // namespace

void MetricsAggregator::OnInvocation(const InvocationEvent& event) {
  FunctionRecord& record = impl_->functions.GetOrCreate(event.function);
  RecordInvocation(record,
                   event.module_version.empty() ? nullptr
                                                : &record.versions.GetOrCreate(event.module_version),
                   event);
}

std::unique_ptr<InvocationRecorder> MetricsAggregator::NewInvocationRecorder(
    std::string_view function) {
  return std::make_unique<BoundRecorder>(&impl_->functions.GetOrCreate(function));
}

void MetricsAggregator::OnColdStart(const ColdStartEvent& event) {
  FunctionRecord& record = impl_->functions.GetOrCreate(event.function);
  Add(record.coldstarts);
  if (!event.module_version.empty()) {
    Add(record.versions.GetOrCreate(event.module_version).coldstarts);
  }
  // A failed cold start never made an instance: its times would mix with real ones.
  if (event.outcome != absl::StatusCode::kOk) return;
  FunctionHistograms& histograms = record.Histograms();
  const auto source = static_cast<size_t>(event.state_source);
  if (source < histograms.init_duration.size()) {
    histograms.init_duration[source].Observe(event.total);
  }
  const absl::Duration phases[] = {event.file_checks, event.dlopen,          event.abi_check,
                                   event.state_init,  event.instance_create, event.zygote_start};
  static_assert(std::size(phases) == std::size(kPhaseNames));
  for (size_t i = 0; i < std::size(phases); ++i) {
    // A zero phase did not run (e.g. dlopen of a loaded module); counting it would drag the
    // phase's quantiles towards zero.
    if (phases[i] > absl::ZeroDuration()) histograms.phase_duration[i].Observe(phases[i]);
  }
}

void MetricsAggregator::OnPoolEvent(const PoolEvent& event) {
  FunctionRecord& record = impl_->functions.GetOrCreate(event.function);
  switch (event.kind) {
    case PoolEventKind::kEviction:
      return Add(record.pool_events[kEvictions]);
    case PoolEventKind::kUnload:
      return Add(record.pool_events[kUnloads]);
    case PoolEventKind::kUnloadFailed:
      return Add(record.pool_events[kUnloadsFailed]);
    case PoolEventKind::kReload:
      return Add(record.pool_events[kReloads]);
    case PoolEventKind::kPrewarm:
      return Add(record.pool_events[kPrewarms]);
    case PoolEventKind::kBudgetEviction:
      return Add(record.pool_events[kBudgetEvictions]);
    case PoolEventKind::kRejected:
      return Add(
          record.rejected_by_reason.GetOrCreate(event.reason.empty() ? "unknown" : event.reason));
  }
}

void MetricsAggregator::OnPoolGauges(const PoolGauges& gauges) {
  FunctionRecord& record = impl_->functions.GetOrCreate(gauges.function);
  record.idle_instances.store(gauges.idle_instances, std::memory_order_relaxed);
  record.busy_instances.store(gauges.busy_instances, std::memory_order_relaxed);
  record.starting_instances.store(gauges.starting_instances, std::memory_order_relaxed);
  record.queued_calls.store(gauges.queued_calls, std::memory_order_relaxed);
  record.loaded.store(gauges.loaded ? 1 : 0, std::memory_order_relaxed);
  record.canary_millionths.store(std::llround(gauges.canary_share * 1e6),
                                 std::memory_order_relaxed);
  record.has_gauges.store(true, std::memory_order_relaxed);
}

void MetricsAggregator::OnHostGauges(const HostGauges& gauges) { impl_->host.Store(gauges); }

void MetricsAggregator::OnSnapshotEvent(const SnapshotEvent& event) {
  FunctionRecord& record = impl_->functions.GetOrCreate(event.function);
  const auto kind = static_cast<size_t>(event.kind);
  if (kind < record.snapshot_events.size()) Add(record.snapshot_events[kind]);
}

void MetricsAggregator::OnWorkerEvent(const WorkerEvent& event) {
  FunctionRecord& record = impl_->functions.GetOrCreate(event.function);
  switch (event.kind) {
    case WorkerEventKind::kSpawned:
      return record.Histograms().worker_spawn_duration.Observe(event.spawn_duration);
    case WorkerEventKind::kLost:
      return Add(record.worker_crashes_by_reason.GetOrCreate(
          event.reason.empty() ? "unknown" : event.reason));
    case WorkerEventKind::kZygoteStarted:
      return record.fork_point.store(event.fork_point == kForkPointNames[1] ? 1 : 0,
                                     std::memory_order_relaxed);
    case WorkerEventKind::kSandboxInForce:
    case WorkerEventKind::kSandboxDenied:
      return impl_->sandbox.Record(event);
  }
}

MetricsAggregator::FunctionTotals MetricsAggregator::Totals(std::string_view function) const {
  FunctionTotals totals;
  const FunctionRecord* record = impl_->functions.Find(function);
  if (record == nullptr) return totals;
  totals.cold_invocations = InvokeDuration(*record, 1).Count();
  totals.invocations = InvokeDuration(*record, 0).Count() + totals.cold_invocations;
  totals.errors = SumOf(record->errors);
  totals.timeouts = Timeouts(*record);
  totals.coldstarts = Get(record->coldstarts);
  totals.evictions = Get(record->pool_events[kEvictions]);
  totals.budget_evictions = Get(record->pool_events[kBudgetEvictions]);
  totals.unloads = Get(record->pool_events[kUnloads]);
  totals.failed_unloads = Get(record->pool_events[kUnloadsFailed]);
  totals.reloads = Get(record->pool_events[kReloads]);
  for (const auto& [reason, count] : record->rejected_by_reason.Sorted()) {
    totals.rejected += Get(*count);
  }
  if (const FunctionHistograms* histograms = record->HistogramsIfAny()) {
    totals.worker_spawns = histograms->worker_spawn_duration.Read().Count();
  }
  for (const auto& [reason, count] : record->worker_crashes_by_reason.Sorted()) {
    totals.worker_crashes += Get(*count);
  }
  if (const int64_t fork_point = Get(record->fork_point); fork_point >= 0) {
    totals.isolation_mode = kForkPointNames[fork_point];
  }
  totals.snapshots_restored =
      Get(record->snapshot_events[static_cast<size_t>(SnapshotEventKind::kRestored)]);
  totals.snapshots_rejected =
      Get(record->snapshot_events[static_cast<size_t>(SnapshotEventKind::kRejected)]);
  totals.sandbox_denials = impl_->sandbox.Denials(function);
  totals.sandbox_in_force = impl_->sandbox.InForce(function);
  return totals;
}

absl::Duration MetricsAggregator::InvokeLatencyQuantile(std::string_view function, bool cold,
                                                        double q) const {
  const FunctionRecord* record = impl_->functions.Find(function);
  if (record == nullptr) return absl::ZeroDuration();
  return InvokeDuration(*record, cold).Quantile(q);
}

namespace {

// Renders one histogram family: a series per function and label value, for the series that
// have samples (an empty histogram is 26 lines that say nothing). `read(record, i)` reads the
// histogram of label value i.
template <size_t N, typename ReadFn>
void RenderHistograms(internal::PrometheusTextWriter& writer, std::string_view name,
                      std::string_view help, std::string_view label,
                      const std::string_view (&label_values)[N],
                      const std::vector<std::pair<std::string, FunctionRecord*>>& functions,
                      ReadFn read) {
  writer.StartFamily(name, PromType::kHistogram, help);
  for (const auto& [function, record] : functions) {
    for (size_t i = 0; i < N; ++i) {
      const LatencyHistogram::Snapshot snapshot = read(*record, i);
      if (snapshot.Count() == 0) continue;
      writer.Histogram(name, {{"function", function}, {label, label_values[i]}},
                       kLatencyBucketsSeconds, snapshot.counts,
                       static_cast<double>(snapshot.sum_nanos) / 1e9);
    }
  }
}

// A reader for RenderHistograms of one of the lazily created FunctionHistograms arrays.
template <size_t N>
auto ReadLazy(std::array<LatencyHistogram, N> FunctionHistograms::*histograms) {
  return [histograms](const FunctionRecord& record, size_t i) {
    const FunctionHistograms* lazy = record.HistogramsIfAny();
    return lazy != nullptr ? (lazy->*histograms)[i].Read() : LatencyHistogram::Snapshot{};
  };
}

// Renders one counter family with a fixed set of label values; every value appears, zero or
// not, so that rate() sees a series' first increment.
template <size_t N>
void RenderFixedCounters(internal::PrometheusTextWriter& writer, std::string_view name,
                         std::string_view help, std::string_view label,
                         const std::string_view (&label_values)[N],
                         const std::vector<std::pair<std::string, FunctionRecord*>>& functions,
                         std::array<Counter, N> FunctionRecord::*counters) {
  writer.StartFamily(name, PromType::kCounter, help);
  for (const auto& [function, record] : functions) {
    for (size_t i = 0; i < N; ++i) {
      writer.Sample(name, {{"function", function}, {label, label_values[i]}},
                    Get(((*record).*counters)[i]));
    }
  }
}

// Renders a per-function gauge for the functions whose pool has reported.
void RenderGauge(internal::PrometheusTextWriter& writer, std::string_view name,
                 std::string_view help,
                 const std::vector<std::pair<std::string, FunctionRecord*>>& functions,
                 Gauge FunctionRecord::*gauge) {
  writer.StartFamily(name, PromType::kGauge, help);
  for (const auto& [function, record] : functions) {
    if (!record->has_gauges.load(std::memory_order_relaxed)) continue;
    writer.Sample(name, {{"function", function}}, Get((*record).*gauge));
  }
}

// The per-version families: a function's invocations, errors, cold starts and latencies split
// by module version, to compare a canary with its stable version (or a reload with the one it
// replaced). Calls refused before a version was chosen, and failed loads, count only in the
// per-function families.
void RenderVersions(internal::PrometheusTextWriter& writer,
                    const std::vector<std::pair<std::string, FunctionRecord*>>& functions) {
  std::vector<std::vector<std::pair<std::string, VersionRecord*>>> versions;
  versions.reserve(functions.size());
  for (const auto& [function, record] : functions) versions.push_back(record->versions.Sorted());

  writer.StartFamily("fnhost_version_invocations_total", PromType::kCounter,
                     "Invocations by module version, and by whether they waited for a cold start.");
  for (size_t f = 0; f < functions.size(); ++f) {
    for (const auto& [version, record] : versions[f]) {
      for (size_t cold = 0; cold < 2; ++cold) {
        writer.Sample("fnhost_version_invocations_total",
                      {{"function", functions[f].first}, {"version", version},
                       {"start", kStartNames[cold]}},
                      record->invoke_duration[cold].Read().Count());
      }
    }
  }
  writer.StartFamily("fnhost_version_errors_total", PromType::kCounter,
                     "Invocations that did not return OK, by module version.");
  for (size_t f = 0; f < functions.size(); ++f) {
    for (const auto& [version, record] : versions[f]) {
      writer.Sample("fnhost_version_errors_total",
                    {{"function", functions[f].first}, {"version", version}}, Get(record->errors));
    }
  }
  writer.StartFamily("fnhost_version_coldstarts_total", PromType::kCounter,
                     "Instances created, by module version.");
  for (size_t f = 0; f < functions.size(); ++f) {
    for (const auto& [version, record] : versions[f]) {
      writer.Sample("fnhost_version_coldstarts_total",
                    {{"function", functions[f].first}, {"version", version}},
                    Get(record->coldstarts));
    }
  }
  writer.StartFamily("fnhost_version_invoke_duration_seconds", PromType::kHistogram,
                     "Invocation latency including queueing, by module version, cold and warm "
                     "apart.");
  for (size_t f = 0; f < functions.size(); ++f) {
    for (const auto& [version, record] : versions[f]) {
      for (size_t cold = 0; cold < 2; ++cold) {
        const LatencyHistogram::Snapshot snapshot = record->invoke_duration[cold].Read();
        if (snapshot.Count() == 0) continue;
        writer.Histogram("fnhost_version_invoke_duration_seconds",
                         {{"function", functions[f].first}, {"version", version},
                          {"start", kStartNames[cold]}},
                         kLatencyBucketsSeconds, snapshot.counts,
                         static_cast<double>(snapshot.sum_nanos) / 1e9);
      }
    }
  }
}

using Functions = std::vector<std::pair<std::string, FunctionRecord*>>;

// Invocations, errors, timeouts and cold starts.
void RenderCallCounters(internal::PrometheusTextWriter& writer, const Functions& functions) {
  writer.StartFamily("faas_invocations_total", PromType::kCounter,
                     "Number of invocations, by whether they waited for a cold start.");
  for (const auto& [function, record] : functions) {
    for (size_t cold = 0; cold < 2; ++cold) {
      writer.Sample("faas_invocations_total",
                    {{"function", function}, {"start", kStartNames[cold]}},
                    InvokeDuration(*record, cold).Count());
    }
  }

  writer.StartFamily("faas_errors_total", PromType::kCounter,
                     "Number of invocations that did not return OK, by status code.");
  for (const auto& [function, record] : functions) {
    for (int code = 1; code < kNumStatusCodes; ++code) {
      const int64_t count = Get(record->errors[code]);
      if (count == 0) continue;
      writer.Sample("faas_errors_total",
                    {{"function", function},
                     {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}},
                    count);
    }
  }

  writer.StartFamily("faas_timeouts_total", PromType::kCounter,
                     "Number of invocations that ran out of time (DEADLINE_EXCEEDED).");
  for (const auto& [function, record] : functions) {
    writer.Sample("faas_timeouts_total", {{"function", function}}, Timeouts(*record));
  }

  writer.StartFamily("faas_coldstarts_total", PromType::kCounter,
                     "Number of instances created, prewarms and failed attempts included.");
  for (const auto& [function, record] : functions) {
    writer.Sample("faas_coldstarts_total", {{"function", function}}, Get(record->coldstarts));
  }
}

// Init and invoke latencies, and the cold-start phases.
void RenderLatencies(internal::PrometheusTextWriter& writer, const Functions& functions) {
  RenderHistograms(writer, "faas_init_duration_seconds",
                   "Time from the start of a successful cold start to a ready instance, by "
                   "where the module state came from.",
                   "source", kSourceNames, functions,
                   ReadLazy(&FunctionHistograms::init_duration));
  RenderHistograms(writer, "faas_invoke_duration_seconds",
                   "Invocation latency including queueing, cold and warm apart.", "start",
                   kStartNames, functions, InvokeDuration);
  RenderHistograms(writer, "fnhost_coldstart_phase_duration_seconds",
                   "Duration of each phase of successful cold starts, when the phase ran.", "phase",
                   kPhaseNames, functions, ReadLazy(&FunctionHistograms::phase_duration));
}

// The pools as they stood at the last PublishGauges.
void RenderPoolGauges(internal::PrometheusTextWriter& writer, const Functions& functions) {
  RenderGauge(writer, "fnhost_pool_idle_instances", "Instances ready and waiting for a call.",
              functions, &FunctionRecord::idle_instances);
  RenderGauge(writer, "fnhost_pool_busy_instances", "Instances serving a call.", functions,
              &FunctionRecord::busy_instances);
  RenderGauge(writer, "fnhost_pool_starting_instances", "Instances being created.", functions,
              &FunctionRecord::starting_instances);
  RenderGauge(writer, "fnhost_pool_queued_calls", "Calls waiting for an instance.", functions,
              &FunctionRecord::queued_calls);
  RenderGauge(writer, "fnhost_module_loaded", "1 if the function's module is loaded, else 0.",
              functions, &FunctionRecord::loaded);

  writer.StartFamily("fnhost_canary_share", PromType::kGauge,
                     "Share of the function's calls routed to its canary version; 0 without one.");
  for (const auto& [function, record] : functions) {
    if (!record->has_gauges.load(std::memory_order_relaxed)) continue;
    writer.Sample("fnhost_canary_share", {{"function", function}},
                  static_cast<double>(Get(record->canary_millionths)) / 1e6);
  }
}

// Pool events, rejected calls and snapshot events.
void RenderEvents(internal::PrometheusTextWriter& writer, const Functions& functions) {
  RenderFixedCounters(writer, "fnhost_pool_events_total",
                      "Things that happened to the function's pool of instances.", "event",
                      kPoolEventNames, functions, &FunctionRecord::pool_events);

  writer.StartFamily("fnhost_rejected_calls_total", PromType::kCounter,
                     "Calls refused without running, by reason.");
  for (const auto& [function, record] : functions) {
    for (const auto& [reason, count] : record->rejected_by_reason.Sorted()) {
      writer.Sample("fnhost_rejected_calls_total", {{"function", function}, {"reason", reason}},
                    Get(*count));
    }
  }

  RenderFixedCounters(writer, "fnhost_snapshot_events_total",
                      "Snapshots written, failed to write, restored from, or found and not used.",
                      "event", kSnapshotEventNames, functions, &FunctionRecord::snapshot_events);
}

// Process isolation: worker spawns, fork points, lost workers.
void RenderIsolation(internal::PrometheusTextWriter& writer, const Functions& functions) {
  writer.StartFamily("fnhost_worker_spawn_duration_seconds", PromType::kHistogram,
                     "Process isolation: time to fork a worker from the zygote until it serves.");
  for (const auto& [function, record] : functions) {
    const FunctionHistograms* histograms = record->HistogramsIfAny();
    if (histograms == nullptr) continue;
    const LatencyHistogram::Snapshot snapshot = histograms->worker_spawn_duration.Read();
    if (snapshot.Count() == 0) continue;
    writer.Histogram("fnhost_worker_spawn_duration_seconds", {{"function", function}},
                     kLatencyBucketsSeconds, snapshot.counts,
                     static_cast<double>(snapshot.sum_nanos) / 1e9);
  }

  writer.StartFamily("fnhost_isolation_mode", PromType::kGauge,
                     "Process isolation: 1 for where the function's workers fork from: after "
                     "the module's init, or before it (the init leaves threads running).");
  for (const auto& [function, record] : functions) {
    const int64_t fork_point = Get(record->fork_point);
    if (fork_point < 0) continue;
    for (int64_t i = 0; i < static_cast<int64_t>(std::size(kForkPointNames)); ++i) {
      writer.Sample("fnhost_isolation_mode", {{"function", function}, {"mode", kForkPointNames[i]}},
                    int64_t{fork_point == i ? 1 : 0});
    }
  }

  writer.StartFamily("fnhost_worker_crashes_total", PromType::kCounter,
                     "Process isolation: workers lost during a call, by signal or cause "
                     "(exit, timeout, memory_limit, channel, protocol, zygote, cancelled, "
                     "watchdog, cpu_time).");
  for (const auto& [function, record] : functions) {
    for (const auto& [reason, count] : record->worker_crashes_by_reason.Sorted()) {
      writer.Sample("fnhost_worker_crashes_total", {{"function", function}, {"reason", reason}},
                    Get(*count));
    }
  }
}

}  // namespace

std::string MetricsAggregator::RenderPrometheus() const {
  const Functions functions = impl_->functions.Sorted();
  std::string out;
  internal::PrometheusTextWriter writer(&out);
  RenderCallCounters(writer, functions);
  RenderLatencies(writer, functions);
  RenderVersions(writer, functions);
  RenderPoolGauges(writer, functions);
  impl_->host.Render(writer);
  RenderEvents(writer, functions);
  RenderIsolation(writer, functions);
  impl_->sandbox.Render(writer);
  return out;
}

}  // namespace fnhost
