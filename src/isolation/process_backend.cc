#include "src/isolation/process_backend.h"

#include <algorithm>
#include <cstdio>

#include "src/common/function_error.h"
#include "src/isolation/sandbox_config.h"

namespace fnhost::internal {
namespace {

ZygoteOptions ZygoteOptionsFor(runtime::ModuleConfig config, const IsolationOptions& isolation,
                               const SandboxOptions& sandbox,
                               const std::string& zygote_executable, Clock* clock) {
  ZygoteOptions options;
  *options.config.mutable_module() = std::move(config);
  options.config.set_fork_before_init(isolation.fork_point ==
                                      IsolationOptions::ForkPoint::kBeforeInit);
  zygote::WorkerLimits& limits = *options.config.mutable_worker();
  limits.set_memory_limit_bytes(isolation.memory_limit_bytes);
  limits.set_spin_budget_nanos(absl::ToInt64Nanoseconds(
      std::clamp(isolation.spin_budget, absl::ZeroDuration(), SpinPolicy::kMaxBudget)));
  options.zygote_executable = zygote_executable;
  options.invoke_timeout = isolation.invoke_timeout;
  options.crash_limit = isolation.crash_limit;
  options.crash_window = isolation.crash_window;
  options.crash_backoff = isolation.crash_backoff;
  options.clock = clock;  // the circuit breaker's; call timeouts are in real time
  // --- Sandbox ---
  if (std::optional<zygote::SandboxConfig> config = ZygoteSandboxConfig(sandbox)) {
    *options.config.mutable_sandbox() = *std::move(config);
  }
  options.cpu_time_limit = sandbox.cpu_time_limit;
  return options;
}

}  // namespace

ProcessBackend::ProcessBackend(runtime::ModuleConfig config, const IsolationOptions& isolation,
                               const SandboxOptions& sandbox,
                               const std::string& zygote_executable,
                               const BackendContext& context, ModuleHints hints,
                               CallPoller* poller)
    : options_(ZygoteOptionsFor(std::move(config), isolation, sandbox, zygote_executable,
                                context.clock)),
      context_(context),
      hints_(hints),
      poller_(poller),
      on_call_end_([this](Worker& worker) { ReportCallEnd(worker); }) {}

ProcessBackend::~ProcessBackend() = default;

absl::Status ProcessBackend::Load(ColdStartEvent* event) {
  ZygoteOptions options = options_;
  // A build whose init is known to leave threads forks before the init at once.
  if (hints_.init_leaves_threads) options.config.set_fork_before_init(true);
  // The services registered by now, bound to this version; the zygote answers the module's
  // require_service from their description.
  services_ = std::make_unique<FunctionServices>(options.config.module(), context_.services,
                                                 context_.sink, context_.log_sink,
                                                 /*typed_forms=*/false);
  services_->DescribeInto(options.config.mutable_module());
  options.services = services_.get();
  if (reload_fd_ >= 0) {
    options.reload_fd = reload_fd_;
    options.config.mutable_module()->set_reload_schema(reload_schema_);
  }
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  reload_fd_ = -1;
  if (!zygote.ok()) {
    services_.reset();
    return zygote.status();
  }
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
  if (context_.sink != nullptr) {
    for (const Zygote::StartReport::SnapshotNote& note : report.snapshot_events) {
      context_.sink->OnSnapshotEvent(
          SnapshotEvent{options_.function_name(), note.path, note.kind, note.detail});
    }
  }
  zygote_ = *std::move(zygote);
  module_version_ = zygote_->module_version();
  services_->set_module_version(module_version_);
  hints_.init_leaves_threads = report.fork_point == ForkPoint::kBeforeInit;
  ReportWorkerEvent(WorkerEvent{.function = options_.function_name(),
                                .module_version = module_version(),
                                .kind = WorkerEventKind::kZygoteStarted,
                                .fork_point = ForkPointName(report.fork_point)});
  return absl::OkStatus();
}

absl::StatusOr<BackendInstance*> ProcessBackend::NewInstance() {
  const bool timed = context_.sink != nullptr;
  const absl::Time start = timed ? context_.clock->Now() : absl::InfinitePast();
  absl::StatusOr<std::unique_ptr<Worker>> worker = zygote_->SpawnWorker();
  if (!worker.ok()) return worker.status();
  ReportSandboxInForce(**worker);
  if (timed) {
    ReportWorkerEvent(WorkerEvent{.function = options_.function_name(),
                                  .module_version = module_version(),
                                  .kind = WorkerEventKind::kSpawned,
                                  .spawn_duration = context_.clock->Now() - start});
  }
  return worker->release();
}

absl::Status ProcessBackend::Invoke(BackendInstance* instance, const Call& call) {
  auto* worker = static_cast<Worker*>(instance);
  absl::Status status = worker->Invoke(call.request, call.response, call.record);
  ReportCallEnd(*worker);
  return status;
}

absl::Status ProcessBackend::StartInvoke(BackendInstance* instance, const Call& call,
                                         CallCompletion* done) {
  if (poller_ == nullptr) return InstanceBackend::StartInvoke(instance, call, done);
  return poller_->Start(static_cast<Worker*>(instance), call.request, call.response, call.record,
                        done, watchdog_.interval != absl::InfiniteDuration() ? &watchdog_ : nullptr,
                        &on_call_end_);
}

void ProcessBackend::CancelInvoke(BackendInstance* instance, bool kill) {
  auto* worker = static_cast<Worker*>(instance);
  worker->DropResponse();
  // Issue 13's per-worker cancelled flag goes up here too, for a module that polls it.
  if (kill && poller_ != nullptr) poller_->RequestKill(worker);
}

void ProcessBackend::ReportCallEnd(Worker& worker) const {
  if (context_.sink == nullptr) return;
  for (const sandbox::DenialCount& denied : worker.TakeNewDenials()) {
    ReportWorkerEvent(WorkerEvent{.function = options_.function_name(),
                                  .module_version = module_version(),
                                  .kind = WorkerEventKind::kSandboxDenied,
                                  .syscall = denied.name,
                                  .count = denied.count});
  }
  if (worker.alive()) return;
  const std::string reason = worker.lost_reason();
  ReportWorkerEvent(WorkerEvent{.function = options_.function_name(),
                                .module_version = module_version(),
                                .kind = WorkerEventKind::kLost,
                                .reason = reason});
}

void ProcessBackend::Destroy(BackendInstance* instance) {
  delete static_cast<Worker*>(instance);  // closes its socket: it exits, the zygote reaps it
}

UnloadReport ProcessBackend::Unload() {
  zygote_.reset();  // the zygote exits with its workers; the host never mapped the module
  services_.reset();
  return {UnloadResult::kUnloaded, ""};
}

absl::StatusOr<int> ProcessBackend::SnapshotForReload(BackendInstance* instance) {
  if (instance != nullptr) return static_cast<Worker*>(instance)->SnapshotState();
  // No idle worker: the state a new worker starts from.
  absl::StatusOr<BackendInstance*> fresh = NewInstance();
  if (!fresh.ok()) return fresh.status();
  absl::StatusOr<int> fd = static_cast<Worker*>(*fresh)->SnapshotState();
  Destroy(*fresh);
  return fd;
}

absl::Status ProcessBackend::WriteSnapshot() {
  return absl::FailedPreconditionError(FunctionMessage(
      options_.function_name(), "in process isolation the zygote writes the state's snapshot"));
}

void ProcessBackend::ReportWorkerEvent(const WorkerEvent& event) const {
  if (context_.sink != nullptr) context_.sink->OnWorkerEvent(event);
}

void ProcessBackend::ReportSandboxInForce(const Worker& worker) {
  const zygote::SandboxInForce* in_force = worker.sandbox_in_force();
  if (in_force == nullptr) return;
  if (const pid_t zygote = zygote_->zygote_pid(); zygote != logged_zygote_) {
    logged_zygote_ = zygote;
    for (const std::string& line : in_force->fallback()) {
      std::fprintf(stderr, "[fnhost:%s] sandbox %s: %s\n", options_.function_name().c_str(),
                   in_force->level().c_str(), line.c_str());
    }
  }
  if (context_.sink == nullptr) return;
  const std::vector<SandboxLayerInForce> layers =
      LayersOf(*in_force, worker.cpu_limited() ? "process_cpu_clock" : "none");
  ReportWorkerEvent(WorkerEvent{.function = options_.function_name(),
                                .module_version = module_version(),
                                .kind = WorkerEventKind::kSandboxInForce,
                                .sandbox_summary = in_force->summary(),
                                .sandbox_layers = layers});
}

}  // namespace fnhost::internal
