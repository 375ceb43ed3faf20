#include "src/host/version.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"
#include "src/host/abi_glue.h"
#include "src/host/host_context.h"
#include "src/host/state_snapshots.h"

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
  LoadOptions options;
  options.allow_writable = host_.options.allow_writable_modules;
  options.sha256 = spec_.sha256;
  LoadTimings timings;
  absl::StatusOr<std::unique_ptr<LoadedModule>> module =
      LoadedModule::Load(spec_.name, module_path_, options, *host_.clock, &timings);
  event->file_checks = timings.file_checks;
  event->dlopen = timings.dlopen;
  event->abi_check = timings.abi_check;
  if (!module.ok()) return module.status();
  const fnhost_module_v1& table = (*module)->table();

  int declared = static_cast<int>(table.max_concurrency_per_instance);
  int wanted = spec_.pool.max_concurrency_per_instance;
  if (wanted > declared) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", spec_.name, "': max_concurrency_per_instance ", wanted, " but module ",
        module_path_, " declares that an instance serves at most ", declared,
        " call(s) at once"));
  }

  CallOutput error(nullptr);
  fnhost_host_init_context context = InitContext(&spec_.name, spec_.init_config, &error);
  absl::Time start = host_.clock->Now();
  fnhost_module_state* state = nullptr;
  int32_t code = FNHOST_STATUS_OK;
  if (!host_.options.snapshot_dir.empty() && spec_.use_snapshots &&
      (*module)->supports_snapshots()) {
    state = TryRestore(**module, context, error);
  }
  if (state != nullptr) {
    event->state_source = StateSource::kRestore;
  } else {
    start = host_.clock->Now();
    code = table.state_create(&context, &state);
    event->state_source = StateSource::kInit;
  }
  event->state_init = host_.clock->Now() - start;
  if (code != FNHOST_STATUS_OK) return StateInitError(error, code, spec_.name, module_path_);

  module_ = *std::move(module);
  table_ = &module_->table();
  state_ = state;
  module_version_ = table.version;
  concurrency_ = wanted > 0 ? wanted : declared;
  return absl::OkStatus();
}

absl::StatusOr<fnhost_module_instance*> Version::NewInstance() {
  if (zygote_ != nullptr) return SpawnWorker();
  CallOutput error(nullptr);
  fnhost_module_instance* instance = nullptr;
  int32_t code = table_->instance_create(state_, error.raw(), &instance);
  if (code != FNHOST_STATUS_OK) return error.ToStatus(code, spec_.name, "instance create");
  return instance;
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
  if (spec_.pool.max_concurrency_per_instance > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", spec_.name, "': max_concurrency_per_instance ",
        spec_.pool.max_concurrency_per_instance, " but in process isolation (module ",
        module_path_, ") each worker process serves one call at a time; set it to 0 or 1"));
  }
  ZygoteOptions options;
  options.function_name = spec_.name;
  options.module_path = module_path_;
  options.init_config = spec_.init_config;
  options.allow_writable_modules = host_.options.allow_writable_modules;
  options.sha256 = spec_.sha256;
  options.zygote_executable = host_.options.zygote_executable;
  options.memory_limit_bytes = isolation.memory_limit_bytes;
  options.invoke_timeout = isolation.invoke_timeout;
  options.crash_limit = isolation.crash_limit;
  options.crash_window = isolation.crash_window;
  options.crash_backoff = isolation.crash_backoff;
  options.spin_budget = isolation.spin_budget;
  options.clock = host_.clock;  // the circuit breaker's; call timeouts are in real time
  options.fork_before_init =
      fork_before_init_ || isolation.fork_point == IsolationOptions::ForkPoint::kBeforeInit;
  options.use_snapshots = spec_.use_snapshots;
  if (spec_.use_snapshots) {
    options.snapshot_dir = host_.options.snapshot_dir;
    options.trust_private_snapshot_dir = host_.options.trust_private_snapshot_dir;
  }
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
    ReportSnapshot(note.kind, report.snapshot_path, note.detail);
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

fnhost_module_state* Version::TryRestore(const LoadedModule& module,
                                         const fnhost_host_init_context& context,
                                         const CallOutput& error) {
  absl::StatusOr<snapshot::ModuleIdentity> identity = IdentityOf(
      module, spec_.init_config,
      TrustedModuleHashCache(host_.options.snapshot_dir, host_.options.trust_private_snapshot_dir,
                             host_.clock->WallNow()));
  if (!identity.ok()) {
    ReportSnapshot(SnapshotEventKind::kRejected, "", identity.status().message());
    return nullptr;
  }
  identity_ = *std::move(identity);
  snapshot_path_ = SnapshotPath(host_.options.snapshot_dir, spec_.name, identity_);
  absl::StatusOr<RestoredState> restored =
      RestoreState(module.table(), context, snapshot_path_, identity_,
                   host_.options.trust_private_snapshot_dir);
  if (!restored.ok()) {
    if (!absl::IsNotFound(restored.status())) {
      std::string why = std::string(restored.status().message());
      if (!error.error_message().empty()) why += ": " + error.error_message();
      ReportSnapshot(SnapshotEventKind::kRejected, snapshot_path_, why);
    }
    return nullptr;
  }
  snapshot_ = std::move(restored->snapshot);
  ReportSnapshot(SnapshotEventKind::kRestored, snapshot_path_, "");
  return restored->state;
}

absl::Status Version::WriteSnapshot() {
  absl::Status status = WriteStateSnapshot(*table_, state_, spec_.name, host_.fs,
                                           snapshot_path_, identity_, host_.clock->WallNow());
  ReportSnapshot(status.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed,
                 snapshot_path_, status.message());
  return status;
}

void Version::ReportSnapshot(SnapshotEventKind kind, std::string_view path,
                             absl::string_view detail) {
  if (host_.sink == nullptr) return;
  host_.sink->OnSnapshotEvent(
      SnapshotEvent{spec_.name, path, kind, std::string_view(detail.data(), detail.size())});
}

UnloadReport Version::Unload() {
  if (zygote_ != nullptr) {
    zygote_.reset();  // the zygote exits with its workers; the host never mapped the module
    return {UnloadResult::kUnloaded, ""};
  }
  table_->state_destroy(state_);
  state_ = nullptr;
  snapshot_.reset();  // after the state: its views pointed into the mapping
  table_ = nullptr;
  UnloadReport report = module_->Unload();
  module_.reset();
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
