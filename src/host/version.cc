#include "src/host/version.h"

#include "src/host/host_context.h"
#include "src/isolation/process_backend.h"
#include "src/runtime/in_process_backend.h"
#include "src/runtime/module_config.h"

namespace fnhost::internal {
namespace {

// The one place where the isolation mode picks the backend.
std::unique_ptr<InstanceBackend> NewBackend(const HostContext& host, const FunctionSpec& spec,
                                            const std::string& module_path, ModuleHints hints) {
  const BackendContext context{.clock = host.clock,
                               .fs = host.fs,
                               .sink = host.sink,
                               .services = host.services.get(),
                               .log_sink = host.options.log_sink};
  runtime::ModuleConfig config = ModuleConfigFor(spec, host.options, module_path);
  if (spec.isolation.mode == IsolationOptions::Mode::kProcess) {
    return std::make_unique<ProcessBackend>(std::move(config), spec.isolation, spec.sandbox,
                                            host.options.zygote_executable, context, hints,
                                            host.poller.get());
  }
  return std::make_unique<InProcessBackend>(std::move(config), context);
}

}  // namespace

Version::Version(const HostContext& host, const FunctionSpec& spec, std::string module_path,
                 ModuleHints hints)
    : host_(host),
      spec_(spec),
      module_path_(std::move(module_path)),
      hints_(hints) {}

InstanceBackend& Version::backend() {
  if (backend_ == nullptr) {
    backend_ = NewBackend(host_, spec_, module_path_, hints_);
    invokes_async_ = backend_->invokes_async();
  }
  return *backend_;
}

Version::~Version() {
  for (const std::unique_ptr<Instance>& instance : pool_.instances) {
    DestroyInstance(instance->handle);
  }
  pool_.instances.clear();
  if (loaded_) Unload();
}

absl::Status Version::Load(ColdStartEvent* event) {
  absl::Status status = backend().Load(event);
  loaded_ = status.ok();
  if (loaded_) {
    module_version_ = backend_->module_version();
    takes_context_ = backend_->takes_context();
  }
  return status;
}

UnloadReport Version::Unload() {
  loaded_ = false;
  return backend_->Unload();
}

int Version::PoolRecord::busy_instances() const {
  int busy = 0;
  for (const std::unique_ptr<Instance>& instance : instances) busy += instance->inflight > 0;
  return busy;
}

}  // namespace fnhost::internal
