// Metrics: what the host reports about cold starts, invocations, pools and snapshots.
//
// A host calls a MetricsSink for every event; with no sink set it calls nothing and reads no
// clock for metrics, so the hook costs nothing. Sinks are called from the request threads and
// from the maintenance thread, never with a host lock held, and must be thread-safe and quick:
// a sink that blocks slows the calls that report to it.
//
// MetricsAggregator is the built-in sink: per-function counters and latency histograms (cold
// and warm apart), rendered in the Prometheus text exposition format with names after the
// OpenTelemetry FaaS semantic conventions (faas.invocations -> faas_invocations_total, ...).
// Invocations, errors, cold starts and latencies are also split by module version
// (fnhost_version_*{function,version}), to compare a canary with its stable version; metrics
// that modules define through the built-in `metrics` service appear as fnhost_module_<name>
// with the function as a label. It records no spans (WantsSpans is false): a tracing sink of
// the embedder's receives them.
// The string_views inside an event are valid only during the call.

#ifndef FNHOST_METRICS_H_
#define FNHOST_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fnhost {

// Where a cold start got its module state from.
enum class StateSource {
  kShared,    // the version's state was already built: only a new instance was created
  kInit,      // state_create ran
  kRestore,   // the state was restored from a snapshot
};

// One cold start: a call (or a prewarm) that had to create an instance, broken into phases.
// Phases that did not run (e.g. dlopen when the module was already loaded) are zero.
struct ColdStartEvent {
  std::string_view function;
  std::string_view module_version;  // the module's own version string; empty if unknown
  bool prewarm = false;             // true when no caller waited for it
  StateSource state_source = StateSource::kInit;
  absl::Duration file_checks;       // the sealed copy, its ELF checks, permission and SHA-256 pin
  absl::Duration dlopen;            // dlopen + dlsym of the entry
  absl::Duration abi_check;         // the entry call and the table's checks
  absl::Duration state_init;        // state_create, or state_restore + state_after_restore
  absl::Duration instance_create;   // instance_create; in process isolation, a worker's spawn
  // Process isolation: starting the zygote process, beyond the load and init phases above
  // (which it measures inside itself).
  absl::Duration zygote_start;
  absl::Duration total;             // from the start of the cold start to a ready instance
  absl::StatusCode outcome = absl::StatusCode::kOk;
};

// One call through Host::Invoke, whatever its outcome.
struct InvocationEvent {
  std::string_view function;
  std::string_view module_version;
  absl::Duration latency;  // from Invoke's entry to its return, queueing included
  bool cold = false;       // the call waited for an instance to be created
  absl::StatusCode outcome = absl::StatusCode::kOk;
};

// Things that happen to a function's pool of instances.
enum class PoolEventKind {
  kEviction,      // an idle instance was destroyed by the keep-alive policy, or to make
                  // room under max_instances for the other version of a traffic split
  kUnload,        // the module was dlclosed and left memory
  kUnloadFailed,  // dlclose returned but the object is still mapped: an STB_GNU_UNIQUE
                  // symbol or a live thread_local holds it (README, "Reading the metrics")
  kReload,        // a new version now serves the function
  kRejected,      // a call was refused; `reason` says why (queue_full, deadline, ...)
  kPrewarm,       // an instance was created ahead of demand
  kReloadFailed,  // a reload failed and the old version serves on
  kBudgetEviction,  // an idle instance was destroyed to make room for another function's
                    // under the host's memory budget (HostOptions::memory_budget_mb)
};

struct PoolEvent {
  std::string_view function;
  std::string_view module_version;
  PoolEventKind kind = PoolEventKind::kEviction;
  // kRejected: "queue_full", "deadline", "memory_budget", "unregistered", ...; kReload and
  // kReloadFailed: the path the reload took, "kept_state" (the new version restored the old
  // one's state, same state schema) or "init".
  std::string_view reason;
};

// A function's pool as it stood at one moment; reported by the maintenance thread and by
// Host::PublishGauges().
struct PoolGauges {
  std::string_view function;
  int64_t idle_instances = 0;
  int64_t busy_instances = 0;
  int64_t starting_instances = 0;
  int64_t queued_calls = 0;
  bool loaded = false;
  double canary_share = 0;  // share of calls routed to the canary; 0 without one
};

// The host's memory budget (HostOptions::memory_budget_mb) as it stood at one moment; reported
// with the pools' gauges when the host has a budget.
struct HostGauges {
  int64_t memory_budget_bytes = 0;
  int64_t memory_used_bytes = 0;     // charged to instances, those being created included
  int64_t memory_peak_bytes = 0;     // the most charged at once since the host started
  int64_t memory_waiting_calls = 0;  // calls waiting for memory to come free
};

// One layer of a worker's sandbox and what enforces it (fnhost/sandbox_options.h).
struct SandboxLayerInForce {
  // "level", "network", "memory", "pids", "files", "tcp", "syscalls", "capabilities",
  // "cpu_time".
  std::string_view layer;
  // For the level, its name ("strict"); else the mechanism: "namespace",
  // "user_and_network_namespace", "cgroup", "rlimit_as", "rlimit_nproc", "landlock",
  // "seccomp_no_open", "allow_list", "deny_list", "dropped", "process_cpu_clock", or "none".
  std::string_view mechanism;
};

// What happens to the worker processes of a function in process isolation mode.
enum class WorkerEventKind {
  kSpawned,  // a worker was forked from the zygote and created its instance
  kLost,     // a worker ended during a call; `reason` says how; it is replaced
  kZygoteStarted,  // a zygote is ready to fork workers; `fork_point` says from where
  kSandboxInForce,  // a worker applied its sandbox; `sandbox_layers` say what is in force
  kSandboxDenied,   // a worker's sandbox denied `count` calls of `syscall` since the last event
};

struct WorkerEvent {
  std::string_view function;
  std::string_view module_version;
  WorkerEventKind kind = WorkerEventKind::kSpawned;
  // kSpawned: from the request to the zygote to the worker's ready report.
  absl::Duration spawn_duration;
  // kLost: the signal ("SIGSEGV", "SIGABRT", ...), "exit" (the module exited), "timeout",
  // "memory_limit", "channel" (closed its channel), "protocol" (wrote garbage on it) or
  // "zygote" (its zygote died).
  std::string_view reason;
  // kZygoteStarted: "fork_after_init" (workers share the state the zygote built) or
  // "fork_before_init" (the module's init leaves threads, so each worker restores or builds
  // its own state; see IsolationOptions::fork_point).
  std::string_view fork_point;
  // kSandboxInForce: one line ("strict: network namespace, memory cgroup, ...") and each layer.
  std::string_view sandbox_summary;
  std::span<const SandboxLayerInForce> sandbox_layers;
  // kSandboxDenied: the system call's name ("execve") and how many new denials.
  std::string_view syscall;
  uint64_t count = 0;
};

enum class SnapshotEventKind {
  kWritten,      // a snapshot was written after an init
  kWriteFailed,  // writing failed (disk full, permissions...); `detail` says why
  kRestored,     // a cold start restored its state from a snapshot
  kRejected,     // a snapshot was found but not used; `detail` says why; init ran instead
};

struct SnapshotEvent {
  std::string_view function;
  std::string_view path;
  SnapshotEventKind kind = SnapshotEventKind::kWritten;
  std::string_view detail;
};

// Records the invocations of one function. A sink may hand the host one per function (see
// MetricsSink::NewInvocationRecorder) so that the warm path skips finding the function by name
// on every call. Thread-safe, like the sink.
class InvocationRecorder {
 public:
  virtual ~InvocationRecorder() = default;
  virtual void Record(const InvocationEvent& event) = 0;
};

// One span of a W3C trace, in OpenTelemetry's model: a call (the parent is the caller's span,
// if the call came with a traceparent), or a phase of the cold start a call waited for (a child
// of the call's span). Ids are lower-case hex: 32 digits for the trace, 16 for a span.
struct SpanEvent {
  std::string_view name;  // "invoke <function>", or the phase: "coldstart dlopen", ...
  std::string_view trace_id;
  std::string_view span_id;
  std::string_view parent_span_id;  // empty for a root span
  absl::Time start;                 // on the host's Clock (wall time)
  absl::Duration duration;
  absl::StatusCode outcome = absl::StatusCode::kOk;
  // OpenTelemetry FaaS attributes.
  std::string_view function;        // faas.name
  std::string_view module_version;  // faas.version
  std::string_view invocation_id;   // faas.invocation_id: the call's id
  bool coldstart = false;           // faas.coldstart: the call waited for a new instance
  std::string_view trigger;         // faas.trigger: "http", "other", ... (CallContext::trigger)
};

// A metric that a module defines through the built-in `metrics` service. Its name matches
// [a-z_][a-z0-9_]*.
struct ModuleMetricDefinition {
  enum class Kind { kCounter, kGauge, kHistogram };
  std::string_view function;
  std::string_view name;
  std::string_view help;
  Kind kind = Kind::kCounter;
  std::span<const double> bounds;  // a histogram's bucket upper bounds, ascending; empty: the
                                   // sink's defaults
};

// Where a module's metric is bumped, from any thread; the methods never block. Owned by the
// sink, and valid for as long as it lives.
class ModuleMetric {
 public:
  virtual ~ModuleMetric() = default;
  virtual void Add(int64_t delta) = 0;    // a counter or a gauge
  virtual void Set(int64_t value) = 0;    // a gauge
  virtual void Record(double value) = 0;  // a histogram
};

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  // Called once when a function is registered. The recorder receives that function's
  // invocations instead of OnInvocation; it must stay usable for as long as the sink.
  // Default: nullptr, every invocation goes to OnInvocation.
  virtual std::unique_ptr<InvocationRecorder> NewInvocationRecorder(std::string_view function) {
    return nullptr;
  }
  virtual void OnColdStart(const ColdStartEvent& event) = 0;
  virtual void OnInvocation(const InvocationEvent& event) = 0;
  virtual void OnPoolEvent(const PoolEvent& event) {}
  virtual void OnPoolGauges(const PoolGauges& gauges) {}
  virtual void OnHostGauges(const HostGauges& gauges) {}
  virtual void OnSnapshotEvent(const SnapshotEvent& event) {}
  virtual void OnWorkerEvent(const WorkerEvent& event) {}

  // Spans: asked once per function at Register. A sink that returns false receives no span,
  // and calls then read no clock and make no ids for spans. Default: false.
  virtual bool WantsSpans() const { return false; }
  virtual void OnSpan(const SpanEvent& span) {}

  // A module defined a metric at init. Return the object its bumps go to: the same one for
  // the same function, name and kind (a reload, a forked worker or a restored state define
  // them again), or null to refuse the definition (the module's define then fails with
  // ALREADY_EXISTS, e.g. for a name that another function defined with another kind).
  // Default: a metric that drops every bump.
  virtual ModuleMetric* DefineModuleMetric(const ModuleMetricDefinition& definition) {
    class Dropped final : public ModuleMetric {
      void Add(int64_t) override {}
      void Set(int64_t) override {}
      void Record(double) override {}
    };
    static Dropped dropped;
    return &dropped;
  }
};

// Histogram bucket upper bounds, in seconds, shared by all latency histograms: from 1 µs to
// 60 s in roughly 1-2.5-5 steps, so that both warm calls and cold starts fall in range.
inline constexpr double kLatencyBucketsSeconds[] = {
    1e-6,   2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3,   1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1.0,    2.5,  5.0,  10.0, 60.0};

// The built-in sink. Thread-safe; recording takes a shared lock and a few relaxed atomic adds.
class MetricsAggregator final : public MetricsSink {
 public:
  MetricsAggregator();
  ~MetricsAggregator() override;

  void OnColdStart(const ColdStartEvent& event) override;
  void OnInvocation(const InvocationEvent& event) override;
  std::unique_ptr<InvocationRecorder> NewInvocationRecorder(std::string_view function) override;
  void OnPoolEvent(const PoolEvent& event) override;
  void OnPoolGauges(const PoolGauges& gauges) override;
  void OnHostGauges(const HostGauges& gauges) override;
  void OnSnapshotEvent(const SnapshotEvent& event) override;
  void OnWorkerEvent(const WorkerEvent& event) override;
  ModuleMetric* DefineModuleMetric(const ModuleMetricDefinition& definition) override;

  // Per-function totals, for tests and for tools that do not speak Prometheus.
  struct FunctionTotals {
    int64_t invocations = 0;
    int64_t cold_invocations = 0;
    int64_t errors = 0;
    int64_t timeouts = 0;
    int64_t coldstarts = 0;
    int64_t evictions = 0;
    int64_t budget_evictions = 0;  // by the host's memory budget
    int64_t unloads = 0;
    int64_t failed_unloads = 0;
    int64_t reloads = 0;
    int64_t reloads_kept_state = 0;  // reloads whose new version restored the old one's state
    int64_t reloads_failed = 0;
    int64_t rejected = 0;
    int64_t snapshots_restored = 0;
    int64_t snapshots_rejected = 0;
    int64_t worker_spawns = 0;   // process isolation
    int64_t worker_crashes = 0;  // workers lost during a call, timeouts and memory limit included
    // Where the latest zygote forks workers from: "fork_after_init" or "fork_before_init";
    // empty before a zygote started.
    std::string isolation_mode;
    // Sandbox: denied system calls, all together, and layer -> mechanism as the latest
    // worker reported (empty without a sandbox).
    int64_t sandbox_denials = 0;
    std::map<std::string, std::string> sandbox_in_force;
  };
  FunctionTotals Totals(std::string_view function) const;

  // Latency quantile (0 < q < 1) of a function's warm or cold invocations, estimated from the
  // histogram by linear interpolation inside the bucket; zero when there are no samples.
  // q outside [0, 1] is clamped (NaN reads as 0); samples above 60 s read as 60 s.
  absl::Duration InvokeLatencyQuantile(std::string_view function, bool cold, double q) const;

  // Renders every metric in the Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost

#endif  // FNHOST_METRICS_H_
