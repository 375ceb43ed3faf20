// The Prometheus text rendering of MetricsAggregator's records (function_record.h): one
// family per metric, a series per function and label value.

#include <string>
#include <vector>

#include "src/metrics/function_record.h"
#include "src/metrics/prometheus_text.h"

namespace fnhost::internal {
namespace {


// Renders one histogram family: a series per function and label value, for the series that
// have samples (an empty histogram is 26 lines that say nothing). `read(record, i)` reads the
// histogram of label value i.
template <size_t N, typename ReadFn>
void RenderHistograms(PrometheusTextWriter& writer, std::string_view name,
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
void RenderFixedCounters(PrometheusTextWriter& writer, std::string_view name,
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
void RenderGauge(PrometheusTextWriter& writer, std::string_view name,
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
void RenderVersions(PrometheusTextWriter& writer,
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


// Invocations, errors, timeouts and cold starts.
void RenderCallCounters(PrometheusTextWriter& writer, const Functions& functions) {
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
void RenderLatencies(PrometheusTextWriter& writer, const Functions& functions) {
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
void RenderPoolGauges(PrometheusTextWriter& writer, const Functions& functions) {
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
void RenderEvents(PrometheusTextWriter& writer, const Functions& functions) {
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

  writer.StartFamily("fnhost_reloads_total", PromType::kCounter,
                     "Reloads by path: kept_state (the new version restored the old one's "
                     "state), init, or failed (the old version serves on).");
  for (const auto& [function, record] : functions) {
    for (const auto& [path, count] : record->reloads_by_path.Sorted()) {
      writer.Sample("fnhost_reloads_total", {{"function", function}, {"path", path}},
                    Get(*count));
    }
  }

  RenderFixedCounters(writer, "fnhost_snapshot_events_total",
                      "Snapshots written, failed to write, restored from, or found and not used.",
                      "event", kSnapshotEventNames, functions, &FunctionRecord::snapshot_events);
}

// Process isolation: worker spawns, fork points, lost workers.
void RenderIsolation(PrometheusTextWriter& writer, const Functions& functions) {
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

void RenderFunctions(PrometheusTextWriter& writer, const Functions& functions,
                     const HostGaugeRecord& host) {
  RenderCallCounters(writer, functions);
  RenderLatencies(writer, functions);
  RenderVersions(writer, functions);
  RenderPoolGauges(writer, functions);
  host.Render(writer);
  RenderEvents(writer, functions);
  RenderIsolation(writer, functions);
}

}  // namespace fnhost::internal
