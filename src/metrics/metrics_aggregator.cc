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
#include "src/metrics/host_gauges.h"
#include "src/metrics/module_metrics.h"
#include "src/metrics/prometheus_text.h"
#include "src/metrics/sandbox_metrics.h"

namespace fnhost {
namespace {

using internal::Add;
using internal::Counter;
using internal::FunctionHistograms;
using internal::FunctionRecord;
using internal::Get;
using internal::GrowOnlyMap;
using internal::InvokeDuration;
using internal::LatencyHistogram;
using internal::kBudgetEvictions;
using internal::kEvictions;
using internal::kForkPointNames;
using internal::kNumStatusCodes;
using internal::kPhaseNames;
using internal::kPrewarms;
using internal::kReloads;
using internal::kUnloads;
using internal::kUnloadsFailed;
using internal::SumOf;
using internal::Timeouts;
using internal::VersionRecord;
}  // namespace

struct MetricsAggregator::Impl {
  GrowOnlyMap<FunctionRecord> functions;
  internal::HostGaugeRecord host;
  internal::ModuleMetrics module_metrics;
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
      Add(record.reloads_by_path.GetOrCreate(event.reason.empty() ? "init" : event.reason));
      return Add(record.pool_events[kReloads]);
    case PoolEventKind::kReloadFailed:
      return Add(record.reloads_by_path.GetOrCreate("failed"));
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
  if (const Counter* kept = record->reloads_by_path.Find("kept_state")) {
    totals.reloads_kept_state = Get(*kept);
  }
  if (const Counter* failed = record->reloads_by_path.Find("failed")) {
    totals.reloads_failed = Get(*failed);
  }
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

std::string MetricsAggregator::RenderPrometheus() const {
  std::string out;
  internal::PrometheusTextWriter writer(&out);
  internal::RenderFunctions(writer, impl_->functions.Sorted(), impl_->host);
  impl_->sandbox.Render(writer);
  impl_->module_metrics.Render(writer);
  return out;
}

ModuleMetric* MetricsAggregator::DefineModuleMetric(const ModuleMetricDefinition& definition) {
  return impl_->module_metrics.Define(definition);
}

}  // namespace fnhost
