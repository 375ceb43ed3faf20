// ProcessBackend: a version of a function's module run in process isolation. Load starts the
// version's zygote (zygote_client.h), which loads the module and builds its state with the same
// StateBuilder as the in-process backend; each instance is a worker process forked from it, and
// Invoke sends the call over the worker's socket: Worker::Invoke (worker.cc) is the warm path. A
// worker lost during a call is reported (IsLost) and never reused; the pool spawns another.
//
// Thread-safety: as InstanceBackend.

#ifndef FNHOST_SRC_ISOLATION_PROCESS_BACKEND_H_
#define FNHOST_SRC_ISOLATION_PROCESS_BACKEND_H_

#include <memory>
#include <string>
#include <utility>

#include "fnhost/function_spec.h"
#include "fnhost/runtime.pb.h"
#include "src/isolation/call_poller.h"
#include "src/isolation/zygote_client.h"
#include "src/runtime/instance_backend.h"

namespace fnhost::internal {

class ProcessBackend final : public InstanceBackend {
 public:
  // `config`: the module and its state, as the in-process backend would get it; `isolation`:
  // the worker limits, timeouts and circuit breaker; `sandbox`: the workers' sandbox (checked
  // by ResolveSandbox); `zygote_executable`: as HostOptions::zygote_executable; `hints`: what
  // an earlier load of the same build learned. `poller`: completes the calls started with
  // StartInvoke (not owned; null: StartInvoke is refused).
  ProcessBackend(runtime::ModuleConfig config, const IsolationOptions& isolation,
                 const SandboxOptions& sandbox, const std::string& zygote_executable,
                 const BackendContext& context, ModuleHints hints,
                 CallPoller* poller = nullptr);
  ~ProcessBackend() override;

  absl::Status Load(ColdStartEvent* event) override;
  absl::StatusOr<BackendInstance*> NewInstance() override;
  absl::Status Invoke(BackendInstance* instance, const Call& call) override;
  // Sends the call and returns; the poller completes it.
  bool invokes_async() const override { return poller_ != nullptr; }
  absl::Status StartInvoke(BackendInstance* instance, const Call& call,
                           CallCompletion* done) override;
  void CancelInvoke(BackendInstance* instance, bool kill) override;
  // A check the poller runs every `watchdog.interval` on each call started with StartInvoke
  // (CallPoller::Watchdog). Set before the first call.
  void SetWatchdog(CallPoller::Watchdog watchdog) { watchdog_ = std::move(watchdog); }
  void Destroy(BackendInstance* instance) override;
  UnloadReport Unload() override;

  const std::string& module_version() const override { return module_version_; }
  // A worker serves one call at a time.
  int concurrency() const override { return 1; }
  // The zygote wrote the state's snapshot, if any, before it reported ready.
  bool ShouldWriteSnapshot() const override { return false; }
  absl::Status WriteSnapshot() override;
  ModuleHints hints() const override { return hints_; }
  const FunctionServices& services() const override { return *services_; }
  // Every request frame carries the call's id, whatever the module reads of it.
  bool takes_context() const override { return true; }

  void SetReloadSource(int fd, uint32_t schema) override {
    reload_fd_ = fd;
    reload_schema_ = schema;
  }
  bool kept_state() const override { return zygote_->start_report().kept_state; }
  uint32_t state_schema() const override { return zygote_->start_report().state_schema; }
  absl::StatusOr<int> SnapshotForReload(BackendInstance* instance) override;

 private:
  void ReportWorkerEvent(const WorkerEvent& event) const;
  // After each call, blocking or not: the sandbox's new denials, and the worker's loss (with
  // its reason) if the call lost it.
  void ReportCallEnd(Worker& worker) const;
  // A new worker's sandbox: what is in force (metrics; the first worker of a zygote also logs
  // its fallbacks).
  void ReportSandboxInForce(const Worker& worker);

  const ZygoteOptions options_;
  const BackendContext context_;
  ModuleHints hints_;
  // Made by Load: the host's side of the module's host calls and log lines; it outlives the
  // zygote and the workers, which point at it.
  std::unique_ptr<FunctionServices> services_;
  std::unique_ptr<Zygote> zygote_;  // once loaded
  std::string module_version_;
  CallPoller* const poller_;
  CallPoller::Watchdog watchdog_;  // none by default
  const CallPoller::CallObserver on_call_end_;
  int reload_fd_ = -1;  // the caller's, until Load returns
  uint32_t reload_schema_ = 0;
  // The zygote whose fallbacks were logged (a restarted one may differ); under the owner's
  // serialisation of NewInstance.
  pid_t logged_zygote_ = 0;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_PROCESS_BACKEND_H_
