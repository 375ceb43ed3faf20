// Version: one loaded build of a function's module — its dlopen handle, its shared state, and
// the bookkeeping of its instances.
//
// In process isolation mode (FunctionSpec::isolation) the version holds a zygote process instead
// of a dlopen handle, and each of its instances is a worker process forked from the zygote: Load
// starts the zygote, NewInstance spawns a worker, Invoke runs the call in it, DestroyInstance
// lets the worker go, Unload lets the zygote go. The pool logic does not see the difference,
// except that a worker lost during a call (IsLost) must not go back to the pool.
//
// The module parts (Load, NewInstance, DestroyInstance, Unload) run without any lock, on the
// thread that owns the step; Function serialises them (one loader at a time, instances
// destroyed only when idle). The pool fields are guarded by the owning Function's mutex.

#ifndef FNHOST_SRC_HOST_VERSION_H_
#define FNHOST_SRC_HOST_VERSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/function_spec.h"
#include "fnhost/metrics.h"
#include "src/isolation/zygote_client.h"
#include "src/loader/module_loader.h"
#include "src/runtime/abi_glue.h"
#include "src/runtime/state_builder.h"

namespace fnhost::internal {

struct HostContext;
class CallOutput;

// A cache line each: instances are small and allocated together, and two calls running on
// neighbouring instances from two cores would otherwise keep taking one line from each other.
struct alignas(64) Instance {
  fnhost_module_instance* handle = nullptr;
  int inflight = 0;       // calls running on it
  absl::Time idle_since;  // when inflight last fell to 0
};

class Version : public SnapshotEvents {
 public:
  Version(const HostContext& host, const FunctionSpec& spec, std::string module_path);
  ~Version() override;

  // Takes over what `previous`, the same build before a scale to zero, found out about the
  // module: in process isolation, that its init leaves threads (so that the next start forks
  // workers before the init at once).
  void LearnFrom(const Version& previous) { fork_before_init_ = previous.fork_before_init_; }

  // Loads the module and builds its state — restored from a matching snapshot when there is
  // one, else by the module's init; fills the load and state phases of `event`.
  absl::Status Load(ColdStartEvent* event);
  // After an init, whether a snapshot should be written (snapshots on, module supports them).
  bool should_write_snapshot() const { return builder_ != nullptr && builder_->ShouldWriteSnapshot(); }
  // Writes the state's snapshot. The version must stay loaded meanwhile (see `pins`).
  absl::Status WriteSnapshot();
  // Creates an instance of the loaded state (in process mode: spawns a worker).
  absl::StatusOr<fnhost_module_instance*> NewInstance();
  void DestroyInstance(fnhost_module_instance* instance);
  // Destroys the state and dlcloses the module (in process mode: lets the zygote go). All
  // instances must be gone.
  UnloadReport Unload();

  // Runs one call on `instance`; `response` receives what the module wrote.
  absl::Status Invoke(fnhost_module_instance* instance, std::string_view request,
                      std::string* response) const {
    if (zygote_ != nullptr) return InvokeWorker(instance, request, response);
    CallOutput output(response);
    return InvokeModule(*table_, instance, request, output, spec_.name);
  }
  // Whether `instance` is a worker process that died (during a call): it cannot serve again
  // and must be destroyed. Always false for instances in the host process.
  bool IsLost(fnhost_module_instance* instance) const;

  const std::string& module_path() const { return module_path_; }
  const std::string& module_version() const { return module_version_; }
  bool loaded() const { return builder_ != nullptr || zygote_ != nullptr; }
  int concurrency() const { return concurrency_; }

  // ---- Pool bookkeeping, guarded by the owning Function's mutex. ----
  enum class LoadState { kUnloaded, kLoading, kReady };
  LoadState load_state = LoadState::kUnloaded;
  uint64_t load_attempts = 0;       // completed load attempts, successful or not
  absl::Status last_load_error;     // of the latest failed attempt
  std::vector<std::unique_ptr<Instance>> instances;
  std::vector<Instance*> free_slots;  // each instance appears (concurrency - inflight) times
  int starting = 0;                   // instances being created outside the lock
  int destroying = 0;                 // instances removed, being destroyed outside the lock
  int pins = 0;                       // background work that needs the state to stay loaded
  int inflight = 0;                   // calls running on this version
  bool retired = false;               // replaced by a reload or unregistered

  int busy_instances() const;
  int idle_instances() const;

 private:
  void OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                       std::string_view detail) override;
  // The process isolation mode's Load, NewInstance and Invoke.
  absl::Status StartZygote(ColdStartEvent* event);
  absl::StatusOr<fnhost_module_instance*> SpawnWorker();
  absl::Status InvokeWorker(fnhost_module_instance* instance, std::string_view request,
                            std::string* response) const;
  void ReportWorkerEvent(const WorkerEvent& event) const;

  const HostContext& host_;
  const FunctionSpec& spec_;
  const std::string module_path_;
  std::unique_ptr<StateBuilder> builder_;      // in process, once loaded
  const fnhost_module_v1* table_ = nullptr;
  fnhost_module_state* state_ = nullptr;
  std::string module_version_;
  int concurrency_ = 1;
  std::unique_ptr<Zygote> zygote_;              // process isolation mode, once loaded
  bool fork_before_init_ = false;               // learned by a zygote (see LearnFrom)
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_VERSION_H_
