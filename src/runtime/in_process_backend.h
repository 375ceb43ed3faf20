// InProcessBackend: a version of a function's module loaded into the host process itself: the
// module is dlopened from its sealed copy (src/loader), its state built by a StateBuilder, and
// each instance is the module's own, called directly through its function table. The fastest
// backend, and the one whose warm path is a single indirect call: Invoke below.
//
// Thread-safety: as InstanceBackend.

#ifndef FNHOST_SRC_RUNTIME_IN_PROCESS_BACKEND_H_
#define FNHOST_SRC_RUNTIME_IN_PROCESS_BACKEND_H_

#include <memory>
#include <string>

#include "fnhost/abi.h"
#include "fnhost/runtime.pb.h"
#include "src/runtime/abi_glue.h"
#include "src/runtime/function_services.h"
#include "src/runtime/instance_backend.h"
#include "src/runtime/state_builder.h"

namespace fnhost::internal {

class InProcessBackend final : public InstanceBackend, private SnapshotEvents {
 public:
  InProcessBackend(runtime::ModuleConfig config, const BackendContext& context);
  ~InProcessBackend() override;

  absl::Status Load(ColdStartEvent* event) override;
  absl::StatusOr<BackendInstance*> NewInstance() override;
  absl::Status Invoke(BackendInstance* instance, const Call& call) override {
    CallOutput output(call.response);
    return InvokeModule(*table_, static_cast<ModuleInstance*>(instance)->raw, call.request,
                        output, function_, call.record != nullptr ? call.record->raw() : nullptr);
  }
  void Destroy(BackendInstance* instance) override;
  UnloadReport Unload() override;

  const std::string& module_version() const override { return module_version_; }
  int concurrency() const override { return builder_.concurrency(); }
  bool ShouldWriteSnapshot() const override { return builder_.ShouldWriteSnapshot(); }
  absl::Status WriteSnapshot() override { return builder_.WriteSnapshot(state_); }
  ModuleHints hints() const override { return {}; }
  const FunctionServices& services() const override { return *services_; }
  bool takes_context() const override { return takes_context_; }

  void SetReloadSource(int fd, uint32_t schema) override { builder_.SetReloadSource(fd, schema); }
  bool kept_state() const override { return kept_state_; }
  uint32_t state_schema() const override { return table_->state_schema; }
  absl::StatusOr<int> SnapshotForReload(BackendInstance*) override {
    return builder_.WriteReloadSnapshot(state_);
  }

 private:
  // An instance of the module, as its instance_create made it.
  struct ModuleInstance final : BackendInstance {
    explicit ModuleInstance(fnhost_module_instance* raw) : raw(raw) {}
    fnhost_module_instance* const raw;
  };

  void OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                       std::string_view detail) override;

  const BackendContext context_;
  StateBuilder builder_;
  const std::string& function_;  // the builder's
  std::unique_ptr<FunctionServices> services_;  // made by Load
  const fnhost_module* table_ = nullptr;        // set by Load
  fnhost_module_state* state_ = nullptr;
  std::string module_version_;
  bool takes_context_ = false;
  bool kept_state_ = false;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_IN_PROCESS_BACKEND_H_
