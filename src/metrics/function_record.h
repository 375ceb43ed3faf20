// FunctionRecord: what MetricsAggregator keeps per function (atomic counters, gauges and
// lazily created histograms, split by module version where it matters), with the label values
// its arrays are indexed by and the sums its readers need. metrics_aggregator.cc records into
// it and renders it.
//
// Thread-safety: the counters and gauges are relaxed atomics; the histograms are created once,
// by whichever thread first needs them (compare-and-swap); the version map is a GrowOnlyMap.

#ifndef FNHOST_SRC_METRICS_FUNCTION_RECORD_H_
#define FNHOST_SRC_METRICS_FUNCTION_RECORD_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fnhost/metrics.h"
#include "src/metrics/grow_only_map.h"
#include "src/metrics/histogram.h"

namespace fnhost::internal {

using Counter = std::atomic<int64_t>;
using Gauge = std::atomic<int64_t>;

inline void Add(Counter& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
inline int64_t Get(const Counter& counter) { return counter.load(std::memory_order_relaxed); }

// Label values, indexed like the arrays of FunctionRecord that they label.
inline constexpr std::string_view kStartNames[] = {"warm", "cold"};                // indexed by `cold`
inline constexpr std::string_view kSourceNames[] = {"shared", "init", "restore"};  // by StateSource
static_assert(static_cast<int>(StateSource::kRestore) == 2);
inline constexpr std::string_view kPhaseNames[] = {"file_checks", "dlopen",          "abi_check",
                                            "state_init",  "instance_create", "zygote_start"};
inline constexpr std::string_view kPoolEventNames[] = {"eviction", "unload",  "unload_failed",
                                                "reload",   "prewarm", "budget_eviction"};
inline constexpr std::string_view kSnapshotEventNames[] = {"written", "write_failed", "restored",
                                                    "rejected"};  // by SnapshotEventKind
static_assert(static_cast<int>(SnapshotEventKind::kRejected) == 3);
inline constexpr std::string_view kForkPointNames[] = {"fork_after_init", "fork_before_init"};
inline constexpr int kNumStatusCodes = 17;  // absl::StatusCode kOk (0) .. kUnauthenticated (16)

enum PoolCounter { kEvictions, kUnloads, kUnloadsFailed, kReloads, kPrewarms, kBudgetEvictions };

// One module version's invocations and cold starts (traffic split: stable against canary;
// reload: old against new). Calls refused before a version was chosen have no version.
struct VersionRecord {
  explicit VersionRecord(std::string_view name) : version(name) {}
  const std::string version;  // immutable: recorders compare against it without a lock
  std::array<LatencyHistogram, 2> invoke_duration;  // [cold]; counts are the invocations
  Counter errors{0};
  Counter coldstarts{0};
};

// The histograms a function needs only once it has started an instance (or refused a call
// before choosing a version), created on first use: a registered function that never ran
// then costs a few hundred bytes instead of a few kilobytes.
struct FunctionHistograms {
  // Calls refused before a version was chosen, [cold]. The function's invocation histogram
  // is these plus its versions' (see InvokeDuration), so a call is observed once, not twice.
  std::array<LatencyHistogram, 2> unversioned_invoke_duration;
  std::array<LatencyHistogram, std::size(kSourceNames)> init_duration;
  std::array<LatencyHistogram, std::size(kPhaseNames)> phase_duration;
  LatencyHistogram worker_spawn_duration;  // its count is the number of spawns
};

struct FunctionRecord {
  ~FunctionRecord() { delete histograms.load(std::memory_order_acquire); }

  FunctionHistograms& Histograms() {
    FunctionHistograms* existing = histograms.load(std::memory_order_acquire);
    if (existing != nullptr) return *existing;
    auto created = std::make_unique<FunctionHistograms>();
    if (histograms.compare_exchange_strong(existing, created.get(), std::memory_order_acq_rel)) {
      return *created.release();
    }
    return *existing;  // another thread created them first
  }
  // Null until first used; readers treat null as empty histograms.
  const FunctionHistograms* HistogramsIfAny() const {
    return histograms.load(std::memory_order_acquire);
  }

  GrowOnlyMap<VersionRecord> versions;
  std::array<Counter, kNumStatusCodes> errors{};  // by absl::StatusCode; timeouts included
  Counter coldstarts{0};
  std::array<Counter, std::size(kPoolEventNames)> pool_events{};
  std::array<Counter, std::size(kSnapshotEventNames)> snapshot_events{};
  GrowOnlyMap<Counter> rejected_by_reason;
  GrowOnlyMap<Counter> worker_crashes_by_reason;  // process isolation
  Gauge fork_point{-1};  // process isolation: index in kForkPointNames; -1 before a zygote
  std::atomic<FunctionHistograms*> histograms{nullptr};

  std::atomic<bool> has_gauges{false};
  Gauge idle_instances{0};
  Gauge busy_instances{0};
  Gauge starting_instances{0};
  Gauge queued_calls{0};
  Gauge loaded{0};
  Gauge canary_millionths{0};  // share of calls routed to the canary, in millionths
};

// A function's invocation latencies, [cold]: every version's, and the calls refused before
// one was chosen. Their sample counts are the invocation counts.
inline LatencyHistogram::Snapshot InvokeDuration(const FunctionRecord& record, size_t cold) {
  LatencyHistogram::Snapshot total;
  if (const FunctionHistograms* histograms = record.HistogramsIfAny()) {
    total = histograms->unversioned_invoke_duration[cold].Read();
  }
  for (const auto& [version, version_record] : record.versions.Sorted()) {
    total.Merge(version_record->invoke_duration[cold].Read());
  }
  return total;
}

inline int64_t Timeouts(const FunctionRecord& record) {
  return Get(record.errors[static_cast<int>(absl::StatusCode::kDeadlineExceeded)]);
}

inline int64_t SumOf(std::span<const Counter> counters) {
  int64_t total = 0;
  for (const Counter& c : counters) total += Get(c);
  return total;
}

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_FUNCTION_RECORD_H_
