// Version: one build of a function's module as the host serves it: the module's path and the
// backend that runs it (InstanceBackend: in the host process, or in worker processes), plus
// the pool's bookkeeping of its instances, which only the Pool and the VersionLifecycle (both
// under the pool's mutex) read and write. The backend is made by the first Load (or
// SetReloadSource): a registered function that was never called holds none.
//
// Thread-safety: the module steps (Load, NewInstance, DestroyInstance, Unload, WriteSnapshot)
// run without any lock, on the thread that owns the step; the pool serialises them (one loader
// at a time, instances destroyed only when idle, unloaded only once drained). Invoke and IsLost
// run on the caller's thread, on an instance it holds.

#ifndef FNHOST_SRC_HOST_VERSION_H_
#define FNHOST_SRC_HOST_VERSION_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "fnhost/metrics.h"
#include "src/runtime/instance_backend.h"

namespace fnhost::internal {

struct HostContext;

class Version;

// A cache line each: instances are small and allocated together, and two cores ending calls on
// neighbouring instances under the pool's lock would otherwise keep taking one line from each
// other.
struct alignas(64) Instance {
  BackendInstance* handle = nullptr;
  Version* version = nullptr;  // whose instance it is
  int inflight = 0;            // calls running on it, but those of the pool's fast lane
  absl::Time idle_since;       // when inflight last fell to 0
};

class Version {
 public:
  // A version of `spec`'s function that loads `module_path`, starting from what an earlier
  // load of the same build learned (`hints`). Loads nothing yet. `host` and `spec` must
  // outlive it.
  Version(const HostContext& host, const FunctionSpec& spec, std::string module_path,
          ModuleHints hints = {});
  // Destroys the instances left, then unloads the module if loaded.
  ~Version();

  Version(const Version&) = delete;
  Version& operator=(const Version&) = delete;

  // Loads the module and builds its state (InstanceBackend::Load).
  absl::Status Load(ColdStartEvent* event);
  // After Load.
  absl::StatusOr<BackendInstance*> NewInstance() { return backend_->NewInstance(); }
  void DestroyInstance(BackendInstance* instance) { backend_->Destroy(instance); }
  // Destroys the state and unloads the module. All instances must be gone.
  UnloadReport Unload();
  // After an init: whether a snapshot should be written (snapshots on, module supports them).
  bool ShouldWriteSnapshot() const { return loaded_ && backend_->ShouldWriteSnapshot(); }
  // Writes the state's snapshot. The version must stay loaded meanwhile (the pool's pins).
  absl::Status WriteSnapshot() { return backend_->WriteSnapshot(); }

  // Runs one call on `instance`; `response` receives what the module wrote. `record`: the
  // call's context, required when takes_context().
  absl::Status Invoke(BackendInstance* instance, std::string_view request, std::string* response,
                      CallRecord* record) const {
    return backend_->Invoke(instance, Call{request, response, record});
  }
  // After Load: whether each call needs a CallRecord, and the services and logger it uses.
  bool takes_context() const { return takes_context_; }
  const FunctionServices& services() const { return backend_->services(); }

  // Reload that keeps state (see InstanceBackend).
  void SetReloadSource(int fd, uint32_t schema) { backend().SetReloadSource(fd, schema); }
  bool kept_state() const { return backend_->kept_state(); }
  uint32_t state_schema() const { return backend_->state_schema(); }
  absl::StatusOr<int> SnapshotForReload(BackendInstance* instance) {
    return backend_->SnapshotForReload(instance);
  }
  // The asynchronous call steps (InstanceBackend::StartInvoke and CancelInvoke); `record` as
  // for Invoke, and it must outlive the call.
  bool invokes_async() const { return invokes_async_; }
  absl::Status StartInvoke(BackendInstance* instance, std::string_view request,
                           std::string* response, CallRecord* record, CallCompletion* done) const {
    return backend_->StartInvoke(instance, Call{request, response, record}, done);
  }
  void CancelInvoke(BackendInstance* instance, bool kill) const {
    backend_->CancelInvoke(instance, kill);
  }
  // Whether `instance` died during a call: it cannot serve again and must be destroyed.
  bool IsLost(const BackendInstance* instance) const { return instance->lost(); }

  const std::string& module_path() const { return module_path_; }
  // The module's own version string; empty until loaded.
  const std::string& module_version() const { return module_version_; }
  bool loaded() const { return loaded_; }
  int concurrency() const { return backend_->concurrency(); }
  ModuleHints hints() const { return backend_ != nullptr ? backend_->hints() : hints_; }

 private:
  friend class Pool;
  friend class VersionLifecycle;

  // The pool's bookkeeping, guarded by the pool's mutex.
  enum class LoadState { kUnloaded, kLoading, kReady };
  struct PoolRecord {
    LoadState load_state = LoadState::kUnloaded;
    uint64_t load_attempts = 0;    // completed load attempts, successful or not
    absl::Status last_load_error;  // of the latest failed attempt
    std::vector<std::unique_ptr<Instance>> instances;
    std::vector<Instance*> free_slots;  // each instance appears (concurrency - inflight) times
    int starting = 0;                   // instances being created outside the lock
    int destroying = 0;                 // instances removed, being destroyed outside the lock
    int pins = 0;                       // background work that needs the state to stay loaded
    int inflight = 0;                   // calls running on this version
    bool retired = false;               // replaced by a reload or unregistered

    int total_instances() const { return static_cast<int>(instances.size()) + starting; }
    int busy_instances() const;
    int idle_instances() const { return static_cast<int>(instances.size()) - busy_instances(); }
  };
  PoolRecord pool_;

  // The backend, made on first use.
  InstanceBackend& backend();

  const HostContext& host_;
  const FunctionSpec& spec_;
  const std::string module_path_;
  const ModuleHints hints_;    // for the backend, when it is made
  // The backend's, read once it is made: every call of the pool reads it, and none comes
  // before the first Load.
  bool invokes_async_ = false;
  std::unique_ptr<InstanceBackend> backend_;
  bool loaded_ = false;
  bool takes_context_ = false;  // the backend's, kept here: every call reads it
  std::string module_version_;  // the backend's, kept here: every call's metrics read it
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_VERSION_H_
