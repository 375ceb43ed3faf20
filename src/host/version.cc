#include "src/host/version.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"
#include "src/runtime/abi_glue.h"
#include "src/host/host_context.h"
#include "src/runtime/module_config.h"

namespace fnhost::internal {
namespace {

// In process mode an instance handle is the Worker it stands for. Only this file looks inside;
// the pool treats handles as opaque either way.
fnhost_module_instance* AsHandle(Worker* worker) {
  return reinterpret_cast<fnhost_module_instance*>(worker);
}
Worker* AsWorker(fnhost_module_instance* handle) { return reinterpret_cast<Worker*>(handle); }

}  // namespace

Version::Version(const HostContext& host, const FunctionSpec& spec, std::string module_path)
    : host_(host), spec_(spec), module_path_(std::move(module_path)) {}

Version::~Version() {
  for (const std::unique_ptr<Instance>& instance : instances) DestroyInstance(instance->handle);
  instances.clear();
  if (loaded()) Unload();
}

absl::Status Version::Load(ColdStartEvent* event) {
  if (spec_.isolation.mode == IsolationOptions::Mode::kProcess) return StartZygote(event);
  auto builder = std::make_unique<StateBuilder>(
      ModuleConfigFor(spec_, host_.options, module_path_), *host_.clock, *host_.fs, this);
  LoadTimings timings;
  absl::Status status = builder->Load(&timings);
  event->file_checks = timings.file_checks;
  event->dlopen = timings.dlopen;
  event->abi_check = timings.abi_check;
  if (!status.ok()) return status;
  absl::StatusOr<StateBuilder::Built> built = builder->Build();
  if (!built.ok()) return built.status();
  event->state_source = built->restored ? StateSource::kRestore : StateSource::kInit;
  event->state_init = built->duration;
  builder_ = std::move(builder);
  table_ = &builder_->table();
  state_ = built->state;
  module_version_ = table_->version;
  concurrency_ = builder_->concurrency();
  return absl::OkStatus();
}

absl::StatusOr<fnhost_module_instance*> Version::NewInstance() {
  if (zygote_ != nullptr) return SpawnWorker();
  return CreateInstance(*table_, state_, spec_.name);
}

void Version::DestroyInstance(fnhost_module_instance* instance) {
  if (zygote_ != nullptr) {
    delete AsWorker(instance);  // closes its socket: the worker exits, the zygote reaps it
    return;
  }
  table_->instance_destroy(instance);
}

bool Version::IsLost(fnhost_module_instance* instance) const {
  return zygote_ != nullptr && !AsWorker(instance)->alive();
}

// ---- Process isolation ----------------------------------------------------------------------

absl::Status Version::StartZygote(ColdStartEvent* event) {
  const IsolationOptions& isolation = spec_.isolation;
  ZygoteOptions options;
  *options.config.mutable_module() = ModuleConfigFor(spec_, host_.options, module_path_);
  options.config.set_fork_before_init(fork_before_init_ ||
                                      isolation.fork_point == IsolationOptions::ForkPoint::kBeforeInit);
  zygote::WorkerLimits& limits = *options.config.mutable_worker();
  limits.set_memory_limit_bytes(isolation.memory_limit_bytes);
  limits.set_spin_budget_nanos(absl::ToInt64Nanoseconds(
      std::clamp(isolation.spin_budget, absl::ZeroDuration(), SpinPolicy::kMaxBudget)));
  options.zygote_executable = host_.options.zygote_executable;
  options.invoke_timeout = isolation.invoke_timeout;
  options.crash_limit = isolation.crash_limit;
  options.crash_window = isolation.crash_window;
  options.crash_backoff = isolation.crash_backoff;
  options.clock = host_.clock;  // the circuit breaker's; call timeouts are in real time
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  if (!zygote.ok()) return zygote.status();
  // The load and init phases ran inside the zygote, which measured them; the rest of its start
  // (spawn, exec, runtime start-up, the config and ready frames, a snapshot write) is the
  // zygote_start phase.
  const Zygote::StartReport& report = (*zygote)->start_report();
  event->file_checks = report.file_checks;
  event->dlopen = report.dlopen;
  event->abi_check = report.abi_check;
  event->state_init = report.state_init;
  event->state_source = report.restored ? StateSource::kRestore : StateSource::kInit;
  event->zygote_start = std::max(absl::ZeroDuration(),
                                 report.total - report.file_checks - report.dlopen -
                                     report.abi_check - report.state_init);
  for (const Zygote::StartReport::SnapshotNote& note : report.snapshot_events) {
    OnSnapshotEvent(note.kind, note.path, note.detail);
  }
  zygote_ = *std::move(zygote);
  module_version_ = zygote_->module_version();
  concurrency_ = 1;
  // Remembered across scale to zero (LearnFrom), so that a threaded module's next cold start
  // forks before the init at once.
  fork_before_init_ = report.fork_point == ForkPoint::kBeforeInit;
  ReportWorkerEvent(WorkerEvent{.function = spec_.name,
                                .module_version = module_version_,
                                .kind = WorkerEventKind::kZygoteStarted,
                                .fork_point = ForkPointName(report.fork_point)});
  return absl::OkStatus();
}

absl::StatusOr<fnhost_module_instance*> Version::SpawnWorker() {
  const absl::Time start = host_.sink != nullptr ? host_.clock->Now() : absl::InfinitePast();
  absl::StatusOr<std::unique_ptr<Worker>> worker = zygote_->SpawnWorker();
  if (!worker.ok()) return worker.status();
  if (host_.sink != nullptr) {
    ReportWorkerEvent(WorkerEvent{.function = spec_.name,
                                  .module_version = module_version_,
                                  .kind = WorkerEventKind::kSpawned,
                                  .spawn_duration = host_.clock->Now() - start});
  }
  return AsHandle(worker->release());
}

absl::Status Version::InvokeWorker(fnhost_module_instance* instance, std::string_view request,
                                   std::string* response) const {
  Worker* worker = AsWorker(instance);
  absl::Status status = worker->Invoke(request, response);
  if (!worker->alive() && host_.sink != nullptr) {
    const std::string reason = worker->lost_reason();
    ReportWorkerEvent(WorkerEvent{.function = spec_.name,
                                  .module_version = module_version_,
                                  .kind = WorkerEventKind::kLost,
                                  .reason = reason});
  }
  return status;
}

void Version::ReportWorkerEvent(const WorkerEvent& event) const {
  if (host_.sink != nullptr) host_.sink->OnWorkerEvent(event);
}

absl::Status Version::WriteSnapshot() { return builder_->WriteSnapshot(state_); }

void Version::OnSnapshotEvent(SnapshotEventKind kind, std::string_view path,
                              std::string_view detail) {
  if (host_.sink == nullptr) return;
  host_.sink->OnSnapshotEvent(SnapshotEvent{spec_.name, path, kind, detail});
}

UnloadReport Version::Unload() {
  if (zygote_ != nullptr) {
    zygote_.reset();  // the zygote exits with its workers; the host never mapped the module
    return {UnloadResult::kUnloaded, ""};
  }
  table_ = nullptr;
  UnloadReport report = builder_->Unload(std::exchange(state_, nullptr));
  builder_.reset();
  return report;
}

int Version::busy_instances() const {
  int busy = 0;
  for (const std::unique_ptr<Instance>& instance : instances) busy += instance->inflight > 0;
  return busy;
}

int Version::idle_instances() const {
  return static_cast<int>(instances.size()) - busy_instances();
}

}  // namespace fnhost::internal
