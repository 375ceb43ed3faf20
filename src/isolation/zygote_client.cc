#include "src/isolation/zygote_client.h"

#include <fcntl.h>

#include "src/common/function_error.h"
#include "src/isolation/zygote_process.h"

namespace fnhost {

using internal::MutexLock;

std::string_view ForkPointName(ForkPoint point) {
  return point == ForkPoint::kBeforeInit ? "fork_before_init" : "fork_after_init";
}

absl::StatusOr<std::unique_ptr<Zygote>> Zygote::Start(const ZygoteOptions& options) {
  auto shared = std::make_shared<internal::ZygoteShared>(options);
  StartReport report;
  internal::UniqueFd snapshot_fd;
  const absl::Time start = Clock::Real()->Now();
  const bool reload = options.reload_fd >= 0;
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> process =
      internal::ZygoteProcess::Start(shared->options(), options.config.fork_before_init(),
                                     options.reload_fd, reload, &report, &snapshot_fd);
  if (!process.ok()) return process.status();
  report.total = Clock::Real()->Now() - start;
  const bool fork_before_init = report.fork_point == ForkPoint::kBeforeInit;
  // What a restart starts from: the snapshot the zygote maps, else the reload's source again.
  internal::UniqueFd reload_fd;
  if (reload && report.kept_state) {
    reload_fd.reset(::fcntl(options.reload_fd, F_DUPFD_CLOEXEC, 0));
  }
  std::unique_ptr<Zygote> zygote(
      new Zygote(std::move(shared), *std::move(process), std::move(report)));
  MutexLock lock(zygote->mu_);
  zygote->fork_before_init_ = fork_before_init;
  zygote->snapshot_is_reload_ = !snapshot_fd.valid() && reload_fd.valid();
  zygote->snapshot_fd_ = snapshot_fd.valid() ? std::move(snapshot_fd) : std::move(reload_fd);
  return zygote;
}

Zygote::Zygote(std::shared_ptr<internal::ZygoteShared> shared,
               std::shared_ptr<internal::ZygoteProcess> process, StartReport report)
    : shared_(std::move(shared)), start_report_(std::move(report)), process_(std::move(process)) {}

Zygote::~Zygote() = default;

std::shared_ptr<internal::ZygoteProcess> Zygote::process() const {
  MutexLock lock(mu_);
  return process_;
}

pid_t Zygote::zygote_pid() const { return process()->pid(); }

absl::StatusOr<std::unique_ptr<Worker>> Zygote::SpawnWorker() {
  if (absl::Status status = shared_->CheckBreaker(); !status.ok()) return status;
  std::shared_ptr<internal::ZygoteProcess> process = this->process();
  absl::StatusOr<internal::ZygoteProcess::Spawned> spawned = process->Spawn();
  if (!spawned.ok() && process->gone()) {
    absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> restarted = Restart(process);
    if (!restarted.ok()) return restarted.status();
    process = *std::move(restarted);
    spawned = process->Spawn();
  }
  if (!spawned.ok()) return spawned.status();
  std::unique_ptr<Worker> worker(
      new Worker(shared_, process, spawned->pid, spawned->fd, spawned->denials_fd));
  if (absl::Status status = worker->AwaitReady(); !status.ok()) return status;
  shared_->RecordSpawn();
  return worker;
}

absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> Zygote::Restart(
    const std::shared_ptr<internal::ZygoteProcess>& dead) {
  MutexLock lock(mu_);
  if (process_ != dead) return process_;
  StartReport report;
  internal::UniqueFd snapshot_fd;
  // As the first start ended: a module whose init leaves threads does not run it again here.
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> process =
      internal::ZygoteProcess::Start(shared_->options(), fork_before_init_, snapshot_fd_.get(),
                                     snapshot_is_reload_, &report, &snapshot_fd);
  if (!process.ok()) return process.status();
  // The file may have been rebuilt in place since: a different module is not a restart.
  if (report.module_name != module_name() || report.module_version != module_version()) {
    return absl::FailedPreconditionError(FunctionMessage(
        shared_->function(), "cannot restart its zygote: module ",
        shared_->options().config.module().module_path(), " is now ", report.module_name, " ",
        report.module_version, ", was ", module_name(), " ", module_version()));
  }
  process_ = *std::move(process);
  fork_before_init_ = report.fork_point == ForkPoint::kBeforeInit;
  if (snapshot_fd.valid()) {
    snapshot_fd_ = std::move(snapshot_fd);
    snapshot_is_reload_ = false;
  } else if (!snapshot_is_reload_) {
    snapshot_fd_.reset();
  }
  shared_->RecordRestart();
  return process_;
}

}  // namespace fnhost
