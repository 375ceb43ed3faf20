// Function: one registered function. It coordinates the pool (pool.h: instances, the queue,
// admission, the versions and the traffic split) and does the work the pool hands back to be
// done without its lock: creating instances (a cold start, loading the module first if need
// be), staging a version for a reload or a canary, destroying instances and unloading
// versions, writing a state snapshot in the background. It also reports every invocation,
// cold start and pool event to the metrics sink.
//
// The warm path, Invoke: Pool::Acquire takes a free slot, Version::Invoke runs the call on the
// backend (in_process_backend.h or process_backend.h), Pool::Release gives the slot back.
//
// Under the host's memory budget (memory_budget.h) it is one of the budget's members: it
// charges each instance it stages, credits each one it destroys, and evicts its oldest idle
// instance when the budget asks (function_budget.cc).
//
// Thread-safety: all methods are thread-safe. Module code always runs with the pool's mutex
// released.

#ifndef FNHOST_SRC_HOST_FUNCTION_H_
#define FNHOST_SRC_HOST_FUNCTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "fnhost/host.h"
#include "src/common/unique_fd.h"
#include "src/host/host_context.h"
#include "src/host/memory_budget.h"
#include "src/host/pool.h"
#include "src/host/version.h"

namespace fnhost::internal {

class Function : public std::enable_shared_from_this<Function>, public MemoryBudget::Member {
 public:
  Function(const HostContext& host, FunctionSpec spec);
  ~Function() override;

  const std::string& name() const { return spec_.name; }
  const FunctionSpec& spec() const { return spec_; }

  absl::Status Invoke(std::string_view request, std::string* response,
                      const CallOptions& options);
  // Host::InvokeAsync: runs the call here when a warm in-process slot is free (and the
  // options allow it), else hands it to an AsyncCall.
  void InvokeAsync(std::string_view request, std::string* response, InvokeCallback done,
                   const CallOptions& options);

  // Creates instances until `instances` exist (bounded by max_instances), loading the module
  // if needed. Runs on the calling thread. Under a memory budget, with `make_room` it evicts
  // other functions' idle instances for them; without (maintenance), it uses only free memory,
  // so that two functions whose floors do not fit together do not evict each other in turn.
  absl::Status Prewarm(int instances, bool report_as_prewarm = true, bool make_room = true);

  // Loads `module_path` as a new version and, once it has a warm instance, makes it current.
  // A canary, if any, stays and keeps its share.
  absl::Status Reload(const std::string& module_path);

  // Loads `module_path` as the canary (from its own sealed copy, initialised and with one
  // instance created off the request path), then sends `share` of new calls to it, replacing
  // any previous canary (which drains). On failure nothing changes and the error is returned.
  absl::Status SetCanary(const std::string& module_path, double share);
  // Changes the canary's share; FAILED_PRECONDITION without a canary.
  absl::Status SetCanaryShare(double share);
  // Makes the canary the stable version (the old one drains); FAILED_PRECONDITION without one.
  absl::Status PromoteCanary();
  // Sends every call to the stable version again; the canary drains. OK without a canary.
  absl::Status ClearCanary();

  // Refuses new calls; queued and running calls finish, then everything is torn down.
  void Unregister();

  // Applies the keep-alive policy: evicts, unloads, prewarms. Runs on the calling thread.
  void Maintain(absl::Time now, absl::Time wall_now);

  FunctionStatus Status() { return pool_.Status(); }
  // Reports the pool's gauges to the metrics sink.
  void PublishGauges();

  // Waits until no call is running or queued, then destroys every instance and state.
  void Shutdown();

  // ---- MemoryBudget::Member (function_budget.cc).
  bool OldestIdle(absl::Time* idle_since, int64_t* calls) override {
    return pool_.OldestIdle(idle_since, calls);
  }
  double instance_memory_mb() const override { return spec_.pool.keep_alive.instance_memory_mb; }
  bool EvictOldestIdle(absl::Time idle_since, absl::Time now) override;
  void WakeMemoryWaiters() override;

 private:
  friend class AsyncCall;

  // A version loaded and initialised off the request path, with its first instances.
  struct Staged {
    std::unique_ptr<Version> version;
    std::vector<BackendInstance*> instances;
  };
  // A reload that keeps state: the live state of the stable version (a sealed memfd of its
  // sections) and its schema; invalid when it has none to keep.
  struct ReloadSource {
    UniqueFd fd;
    uint32_t schema = 0;
  };

  // The slow end of Pool::Acquire: destroys what it evicted, and starts the instance it asks
  // for (`acquired` OK with a `start`).
  // `event`, if not null, receives the cold start's phases.
  absl::Status FinishAcquire(const absl::Status& acquired, const Pool::Start& start,
                             Pool::Garbage& garbage, Pool::Lease* lease, ColdStartEvent* event);
  // Creates the instance of `start` (loading the module first when it says so) without the
  // pool's lock, and reports the cold start (also into `out` when not null). With a lease, the
  // instance serves that caller.
  absl::Status StartInstance(const Pool::Start& start, Pool::Lease* lease, bool prewarm,
                             ColdStartEvent* out = nullptr);
  // Loads `version` first when `load`, then creates one instance; times the phases into
  // `event`.
  absl::StatusOr<BackendInstance*> ColdStart(Version* version, bool load, ColdStartEvent* event);
  // A version of `module_path`, loaded (from `source` when it declares the same state schema),
  // with `instances` instances (at least one; if a later one fails, those created so far).
  absl::StatusOr<Staged> Stage(const std::string& module_path, int instances,
                               const ReloadSource& source);
  // Stage, then Pool::Install; reports the reload and the path it took.
  absl::Status StageAndInstall(const std::string& module_path, int instances, bool as_canary,
                               uint32_t share, const ReloadSource& source);
  // A synchronous call with a cancellation token or a deadline: InvokeAsync, waited for.
  absl::Status InvokeAndWait(std::string_view request, std::string* response,
                             const CallOptions& options);
  // The stable version's live state, when it is loaded and declares a state schema: its
  // state's sections (under process isolation, an idle worker's, or a fresh one's). An error
  // when the module cannot write them: the reload then fails.
  absl::StatusOr<ReloadSource> TakeStateForReload();
  // Destroys what the pool took out (instances first: a version's state must outlive them),
  // unloads versions, and reports evictions and unloads; then dispatches the asynchronous
  // callers granted a slot.
  void Destroy(Pool::Garbage& garbage);
  // Writes the snapshot of `version` (pinned by the pool) in the background.
  void ScheduleSnapshot(Version* version);
  // The memory budget (function_budget.cc). Charges an instance staged off the request path,
  // evicting idle instances of any function when `make_room`; RESOURCE_EXHAUSTED with the
  // rejection reason "memory_budget" when it does not fit.
  absl::Status ChargeStagedInstance(bool make_room);
  // Makes room for a prewarm (its `tries`-th time), if `make_room`; RESOURCE_EXHAUSTED as above
  // when there is none, or after a few tries.
  absl::Status MakeRoomForPrewarm(bool make_room, int tries);
  // Credits `instances` instances destroyed, or never created.
  void FreeMemory(int instances);
  absl::Status NoRoomError(std::string_view what) const;
  void ReportColdStart(ColdStartEvent& event, std::string_view module_version);
  // Whether a call needs a CallRecord: it has a context, the module takes one, or the sink
  // wants spans. Otherwise the module is called without one, at no cost.
  bool NeedsRecord(const Version& version, const CallContext* context) const;
  CallRecord::Setup RecordSetup(const Version& version, CallContext* context,
                                absl::Time deadline) const;
  // Runs a call on `lease` on this thread (with a CallRecord when NeedsRecord) and reports it;
  // `cold`: the cold start it waited for, `span_start` and `begin` (ticks): when it arrived.
  absl::Status RunCall(const Pool::Lease& lease, std::string_view request, std::string* response,
                       CallContext* context, const ColdStartEvent* cold, absl::Time span_start,
                       int64_t begin);
  // When spans are wanted: the call's span (since `begin`, in ticks), and those of the phases
  // of the cold start it waited for (`cold`).
  void ReportSpans(const CallRecord& record, const Version& version, const ColdStartEvent* cold,
                   absl::Time start, const absl::Status& status, std::string_view trigger,
                   int64_t begin);
  void ReportRejection(const absl::Status& status);
  // Gives a lease back through the pool's lock.
  void ReleaseLease(const Pool::Lease& lease);
  // A call that ran on `lease`, and one that failed before it ran, since `begin` (ticks).
  void ReportCall(const Pool::Lease& lease, int64_t begin, absl::StatusCode code);
  void ReportFailure(const absl::Status& status, int64_t begin);
  void ReportInvocation(const InvocationEvent& event);
  void ReportPoolEvent(std::string_view module_version, PoolEventKind kind,
                       std::string_view reason);

  const HostContext& host_;
  const FunctionSpec spec_;
  Pool pool_;
  // The sink's per-function recorder, or null: invocations then go to OnInvocation.
  const std::unique_ptr<InvocationRecorder> recorder_;
  // The sink records spans: every call then has a trace context.
  const bool wants_spans_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_FUNCTION_H_
