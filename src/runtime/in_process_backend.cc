#include "src/runtime/in_process_backend.h"

#include <utility>

namespace fnhost::internal {

InProcessBackend::InProcessBackend(runtime::ModuleConfig config, const BackendContext& context)
    : context_(context),
      builder_(std::move(config), *context.clock, *context.fs, this),
      function_(builder_.function()) {}

InProcessBackend::~InProcessBackend() {
  if (table_ != nullptr) Unload();
}

absl::Status InProcessBackend::Load(ColdStartEvent* event) {
  LoadTimings timings;
  absl::Status status = builder_.Load(&timings);
  event->file_checks = timings.file_checks;
  event->dlopen = timings.dlopen;
  event->abi_check = timings.abi_check;
  if (!status.ok()) return status;
  // The services registered by now, bound to this version.
  services_ = std::make_unique<FunctionServices>(builder_.config(), context_.services,
                                                 context_.sink, context_.log_sink,
                                                 /*typed_forms=*/true);
  services_->set_module_version(builder_.table().version);
  builder_.set_init_host(services_.get());
  absl::StatusOr<StateBuilder::Built> built = builder_.Build();
  if (!built.ok()) {
    builder_.Unload(nullptr);
    return built.status();
  }
  event->state_source = built->restored ? StateSource::kRestore : StateSource::kInit;
  event->state_init = built->duration;
  table_ = &builder_.table();
  state_ = built->state;
  module_version_ = table_->version;
  takes_context_ = builder_.module().abi().has_context();
  kept_state_ = built->kept_state;
  return absl::OkStatus();
}

absl::StatusOr<BackendInstance*> InProcessBackend::NewInstance() {
  absl::StatusOr<fnhost_module_instance*> raw =
      CreateInstance(*table_, state_, builder_.function());
  if (!raw.ok()) return raw.status();
  return new ModuleInstance(*raw);
}

void InProcessBackend::Destroy(BackendInstance* instance) {
  auto* module_instance = static_cast<ModuleInstance*>(instance);
  table_->instance_destroy(module_instance->raw);
  delete module_instance;
}

UnloadReport InProcessBackend::Unload() {
  table_ = nullptr;
  UnloadReport report = builder_.Unload(std::exchange(state_, nullptr));
  // After the state: what it obtained from its services stays valid until its destroy.
  builder_.set_init_host(nullptr);
  services_.reset();
  return report;
}

void InProcessBackend::OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                                       std::string_view detail) {
  if (context_.sink == nullptr) return;
  context_.sink->OnSnapshotEvent(SnapshotEvent{builder_.function(), path, kind, detail});
}

}  // namespace fnhost::internal
