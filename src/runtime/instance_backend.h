// InstanceBackend: where one version of a function's module runs, seen from the pool. Two
// implementations: InProcessBackend (in_process_backend.h: the module dlopened in the host
// process) and ProcessBackend (src/isolation/process_backend.h: a zygote process and worker
// processes forked from it). The pool above does not know which it holds.
//
// A version's life, in order: Load once (the module and its state), then any number of
// NewInstance, Invoke and Destroy, then Unload once every instance is destroyed. IsLost says
// that an instance died under a call (a worker process) and must be destroyed, never reused.
//
// Thread-safety: Load, NewInstance, Destroy, Unload and WriteSnapshot are serialised by the
// owner (one loader at a time; instances destroyed only when idle). Invoke may run on many
// threads at once, each on an instance it holds, up to concurrency() calls per instance.
// IsLost is called by the holder of the instance after its Invoke returned, or after its
// StartInvoke's completion ran.

#ifndef FNHOST_SRC_RUNTIME_INSTANCE_BACKEND_H_
#define FNHOST_SRC_RUNTIME_INSTANCE_BACKEND_H_

#include <atomic>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/clock.h"
#include "fnhost/metrics.h"
#include "fnhost/log_sink.h"
#include "src/common/file_system.h"
#include "src/loader/module_loader.h"
#include "src/runtime/call_record.h"
#include "src/runtime/function_services.h"
#include "src/runtime/service_registry.h"

namespace fnhost::internal {

// One instance as a backend hands it out. Opaque to everyone but the backend that made it,
// which derives its own type from this one; all anyone else may ask is whether it is lost.
class BackendInstance {
 public:
  // Whether the instance died during a call (a worker process): it cannot serve again and
  // must be destroyed. Read by the instance's holder after Invoke returned.
  bool lost() const { return lost_.load(std::memory_order_acquire); }

 protected:
  BackendInstance() = default;
  ~BackendInstance() = default;
  void MarkLost() { lost_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> lost_{false};
};

// One call as it crosses a backend: the request in, the response out, and the call's context
// (metadata, ids, deadline, cancellation, its host services). `response` is overwritten,
// reusing its capacity. `record` may be null only for a backend whose takes_context() is false.
struct Call {
  std::string_view request;
  std::string* response = nullptr;
  CallRecord* record = nullptr;
};

// Where a call started with InstanceBackend::StartInvoke ends.
class CallCompletion {
 public:
  // The call's outcome, as Invoke would have returned it. Runs once, on the backend's thread
  // (the poller of process isolation), never inside StartInvoke.
  virtual void OnCallDone(absl::Status status) = 0;

 protected:
  ~CallCompletion() = default;
};

// What a backend reports to and reads from the host: its clock, file system, metrics sink
// (null: no metrics), the host's services (null: none) and log sink (null: stderr). Not owned;
// they outlive the backend.
struct BackendContext {
  Clock* clock = nullptr;
  FileSystem* fs = nullptr;
  MetricsSink* sink = nullptr;
  const ServiceRegistry* services = nullptr;
  LogSink* log_sink = nullptr;
};

// What a backend found out about a module build that the next load of the same build (after a
// scale to zero) can use from the start.
struct ModuleHints {
  bool init_leaves_threads = false;  // the module's init leaves threads running
};

class InstanceBackend {
 public:
  virtual ~InstanceBackend() = default;

  // Loads the module and builds its state, restored from a matching snapshot when there is
  // one, else by the module's init; fills the load and state phases of `event`. Errors name
  // the function, the module file and the cause.
  virtual absl::Status Load(ColdStartEvent* event) = 0;
  // Creates an instance of the loaded state.
  virtual absl::StatusOr<BackendInstance*> NewInstance() = 0;
  // Runs one call on `instance`. The module's errors come back as absl::Status values that
  // read the same in both isolation modes.
  virtual absl::Status Invoke(BackendInstance* instance, const Call& call) = 0;
  // Whether calls may start without a thread waiting for them (StartInvoke): true where the
  // call runs elsewhere (a worker process). A backend that runs calls on the caller's thread
  // says false, and the host runs Invoke on a thread of its own instead.
  virtual bool invokes_async() const { return false; }
  // Starts a call on `instance` and returns without waiting for it: OK, and `done` runs once
  // the call is over (with what Invoke would have returned); or the error that kept the call
  // from starting, and `done` never runs. `call` (the request bytes and the response string)
  // must stay valid until `done` runs or CancelInvoke returns.
  virtual absl::Status StartInvoke(BackendInstance* instance, const Call& call,
                                   CallCompletion* done) {
    return absl::UnimplementedError("this backend runs calls on the caller's thread");
  }
  // The caller gave up on the call StartInvoke started on `instance`: from when this returns,
  // the backend no longer touches the call's response. With `kill`, the instance is ended
  // (and lost); without, the call runs on and its result is dropped. `done` still runs.
  virtual void CancelInvoke(BackendInstance* instance, bool kill) {}
  // Whether `instance` died during a call: it cannot serve again and must be destroyed. The
  // instance's own flag, which its backend sets: no virtual call on the warm path.
  bool IsLost(const BackendInstance* instance) const { return instance->lost(); }
  virtual void Destroy(BackendInstance* instance) = 0;
  // Destroys the state and unloads the module; every instance must be gone.
  virtual UnloadReport Unload() = 0;

  // After Load:
  // The module's own version string.
  virtual const std::string& module_version() const = 0;
  // Calls one instance serves at once.
  virtual int concurrency() const = 0;
  // Whether the state's snapshot should be written to the snapshot directory, off the
  // request path (WriteSnapshot), because the state was built by an init here.
  virtual bool ShouldWriteSnapshot() const = 0;
  // Writes it; the outcome also goes to the metrics sink. The version stays loaded meanwhile.
  virtual absl::Status WriteSnapshot() = 0;
  // What the next load of this build can start from.
  virtual ModuleHints hints() const = 0;
  // The function's host services and logger as this version's calls use them (the call
  // record's); valid from Load to Unload.
  virtual const FunctionServices& services() const = 0;
  // Whether each call needs a CallRecord: the module takes a call context (always under
  // process isolation, where the request frame carries the call's id).
  virtual bool takes_context() const = 0;

  // ---- Reload that keeps state.
  // Before Load: the live state of the version this one replaces, in `fd` (a sealed memfd of
  // sections, state schema `schema`; the caller keeps it open until Load returns). Load builds
  // the state from it when the module declares the same schema, and fails if that fails.
  virtual void SetReloadSource(int fd, uint32_t schema) = 0;
  // After Load: whether the state was built from the reload source.
  virtual bool kept_state() const = 0;
  // After Load: the module's state schema; 0 for none.
  virtual uint32_t state_schema() const = 0;
  // Writes the live state's sections to a new sealed memfd (the caller owns it), for the
  // version that replaces this one. `instance`: an idle instance the caller holds, or null;
  // under process isolation each worker has its own copy of the state, and this takes that
  // worker's (a fresh worker's without one).
  virtual absl::StatusOr<int> SnapshotForReload(BackendInstance* instance) = 0;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_INSTANCE_BACKEND_H_
