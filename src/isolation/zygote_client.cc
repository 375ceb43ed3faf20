#include "src/isolation/zygote_client.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_messages.h"
#include "src/isolation/zygote_process.h"

namespace fnhost {
namespace internal {

// What a Zygote shares with its Workers, which may outlive it: the options, the circuit
// breaker and the counters.
struct ZygoteShared {
  explicit ZygoteShared(const ZygoteOptions& options) : options(options) {
    if (this->options.clock == nullptr) this->options.clock = Clock::Real();
  }

  void RecordSpawn() {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.workers_spawned;
  }

  void RecordCrash(bool timeout) {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.worker_crashes;
    stats.worker_timeouts += timeout ? 1 : 0;
    if (options.crash_limit <= 0) return;
    absl::Time now = options.clock->Now();
    crashes.push_back(now);
    while (!crashes.empty() && crashes.front() <= now - options.crash_window) {
      crashes.pop_front();
    }
    if (static_cast<int>(crashes.size()) >= options.crash_limit) {
      backoff_until = now + options.crash_backoff;
      crashes.clear();
    }
  }

  absl::Status CheckBreaker() {
    std::lock_guard<std::mutex> lock(mu);
    absl::Time now = options.clock->Now();
    if (now >= backoff_until) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(
        "function '", options.function_name(), "' is crash-looping (", options.crash_limit,
        " worker crashes within ", absl::FormatDuration(options.crash_window),
        "); no new workers for another ", absl::FormatDuration(backoff_until - now)));
  }

  ZygoteOptions options;
  std::mutex mu;                   // guards what follows
  std::deque<absl::Time> crashes;  // within the window
  absl::Time backoff_until = absl::InfinitePast();
  Zygote::Stats stats;
};

}  // namespace internal

using internal::FrameHeader;
using internal::FrameType;

std::string_view ForkPointName(ForkPoint point) {
  return point == ForkPoint::kBeforeInit ? "fork_before_init" : "fork_after_init";
}

// ---- Worker ---------------------------------------------------------------------------------

Worker::Worker(std::shared_ptr<internal::ZygoteShared> shared,
               std::shared_ptr<internal::ZygoteProcess> process, pid_t pid, int fd)
    : shared_(std::move(shared)),
      process_(std::move(process)),
      pid_(pid),
      fd_(fd),
      spin_(absl::Nanoseconds(shared_->options.config.worker().spin_budget_nanos())) {}

Worker::~Worker() {
  std::lock_guard<std::mutex> lock(mu_);
  Release();
}

void Worker::Release() {
  alive_.store(false, std::memory_order_release);
  internal::UnmapDoorbell(bell_);
  bell_ = nullptr;
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  process_->Forget(pid_);
}

absl::Time Worker::Deadline() const {
  const absl::Duration timeout = shared_->options.invoke_timeout;
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                             : Clock::Real()->Now() + timeout;
}

absl::Status Worker::Invoke(std::string_view request, std::string* response) {
  std::lock_guard<std::mutex> lock(mu_);
  const ZygoteOptions& options = shared_->options;
  if (fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", options.function_name(), "': worker ", pid_, " is gone; spawn another"));
  }
  const uint32_t max_message_bytes = options.config.worker().max_message_bytes();
  if (request.size() > max_message_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", options.function_name(), "': request of ", request.size(),
                     " bytes is above max_message_bytes ", max_message_bytes));
  }
  absl::Time deadline = Deadline();
  FrameHeader header;
  // Read before the request leaves, so that the worker's ring cannot come before it.
  internal::BellWait wait{bell_ != nullptr ? &bell_->response : nullptr,
                          bell_ != nullptr ? bell_->response.load(std::memory_order_acquire) : 0,
                          &spin_};
  absl::Status io = internal::SendFrame(fd_, FrameType::kRequest, 0, 0, request, deadline);
  if (io.ok()) {
    if (bell_ != nullptr) bell_->request.fetch_add(1, std::memory_order_release);
    io = internal::RecvCallFrame(fd_, max_message_bytes, deadline, &header, response,
                                 bell_ != nullptr ? &wait : nullptr);
  }
  if (io.ok() && (header.type != FrameType::kResponse || header.code < 0 ||
                  header.code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated))) {
    io = absl::DataLossError(absl::StrCat("unexpected frame type ", static_cast<int>(header.type),
                                          " code ", header.code));
  }
  if (!io.ok()) {
    response->clear();
    return Lost(io, "invoke");
  }
  if (header.code == 0) return absl::OkStatus();
  absl::Status status(static_cast<absl::StatusCode>(header.code), *response);
  response->clear();
  if ((header.flags & internal::kFlagWorkerExits) != 0) {
    Release();
    lost_reason_ = "memory_limit";
    shared_->RecordCrash(/*timeout=*/false);
  }
  return status;
}

absl::Status Worker::AwaitReady() {
  std::lock_guard<std::mutex> lock(mu_);
  FrameHeader header;
  std::string payload;
  int bell_fd = -1;  // the worker's doorbell comes with its ready frame, if at all
  // A worker that runs the module's init has no deadline for it, as a zygote's init has none.
  const absl::Time deadline =
      process_->workers_run_init() ? absl::InfiniteFuture() : Deadline();
  absl::Status io = internal::RecvFrame(fd_, shared_->options.config.worker().max_message_bytes(), deadline,
                                        &header, &payload, &bell_fd);
  if (io.ok() && header.type == FrameType::kWorkerReady && bell_fd >= 0) {
    absl::StatusOr<internal::Doorbell*> bell = internal::MapPeerDoorbell(bell_fd);
    ::close(bell_fd);
    if (!bell.ok()) return Lost(bell.status(), "startup");
    bell_ = *bell;
  } else if (bell_fd >= 0) {
    ::close(bell_fd);
  }
  if (io.ok() && header.type == FrameType::kWorkerReady) return absl::OkStatus();
  if (io.ok() && header.type == FrameType::kError) {
    // The module's post-fork hook or instance creation failed: its error, not a crash.
    Release();
    return absl::Status(static_cast<absl::StatusCode>(header.code), payload);
  }
  if (io.ok()) io = absl::DataLossError("unexpected first frame");
  return Lost(io, "startup");
}

std::string Worker::lost_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lost_reason_;
}

std::string Worker::LostReason(const absl::Status& cause,
                               const std::optional<internal::WorkerExit>& exit) {
  if (absl::IsDeadlineExceeded(cause)) return "timeout";
  if (absl::IsDataLoss(cause)) return "protocol";
  if (!exit.has_value()) return "zygote";
  const int status = exit->wait_status;
  if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && exit->killed_on_request) ||
      (WIFEXITED(status) && WEXITSTATUS(status) == internal::kExitChannelBroken)) {
    return "channel";
  }
  if (!WIFSIGNALED(status)) return "exit";
  const int signal = WTERMSIG(status);
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal_", signal);
}

absl::Status Worker::Lost(const absl::Status& cause, std::string_view during) {
  // Killing first makes the end certain (a worker that merely closed its channel would live
  // on); the zygote's report then says whether the worker was already dying of something else.
  process_->Kill(pid_);
  std::optional<internal::WorkerExit> exit = process_->AwaitExit(pid_);
  Release();
  const bool timeout = absl::IsDeadlineExceeded(cause);
  shared_->RecordCrash(timeout);
  lost_reason_ = LostReason(cause, exit);

  const std::string& function = shared_->options.function_name();
  if (timeout) {
    return absl::DeadlineExceededError(absl::StrCat(
        "function '", function, "': ", AsAbsl(during), " did not finish within ",
        absl::FormatDuration(shared_->options.invoke_timeout), "; worker ", pid_, " killed"));
  }
  std::string worker = absl::StrCat("function '", function, "': worker ", pid_);
  if (lost_reason_ == "protocol") {
    return absl::UnavailableError(absl::StrCat(worker, " broke the channel protocol during ",
                                               AsAbsl(during), " (", cause.message(),
                                               "); worker killed"));
  }
  if (lost_reason_ == "zygote") {
    return absl::UnavailableError(
        absl::StrCat(worker, " lost during ", AsAbsl(during), ": ", process_->GoneReason()));
  }
  if (lost_reason_ == "channel") {
    return absl::UnavailableError(
        absl::StrCat(worker, " closed its channel during ", AsAbsl(during), "; worker ended"));
  }
  return absl::UnavailableError(absl::StrCat(
      worker, " ", internal::DescribeWaitStatus(exit->wait_status), " during ", AsAbsl(during)));
}

// ---- Zygote ---------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Zygote>> Zygote::Start(const ZygoteOptions& options) {
  auto shared = std::make_shared<internal::ZygoteShared>(options);
  internal::ModuleInfo info;
  internal::UniqueFd snapshot_fd;
  const absl::Time start = Clock::Real()->Now();
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> process =
      internal::ZygoteProcess::Start(shared->options, options.config.fork_before_init(),
                                     /*snapshot_fd=*/-1, &info, &snapshot_fd);
  if (!process.ok()) return process.status();
  std::unique_ptr<Zygote> zygote(new Zygote(std::move(shared), *std::move(process),
                                            std::move(info.name), std::move(info.version),
                                            info.max_concurrency));
  zygote->fork_before_init_ = info.start.fork_point == ForkPoint::kBeforeInit;
  zygote->snapshot_fd_ = std::move(snapshot_fd);
  zygote->start_report_ = std::move(info.start);
  zygote->start_report_.total = Clock::Real()->Now() - start;
  return zygote;
}

Zygote::Zygote(std::shared_ptr<internal::ZygoteShared> shared,
               std::shared_ptr<internal::ZygoteProcess> process, std::string module_name,
               std::string module_version, int max_concurrency)
    : shared_(std::move(shared)),
      module_name_(std::move(module_name)),
      module_version_(std::move(module_version)),
      max_concurrency_(max_concurrency),
      process_(std::move(process)) {}

Zygote::~Zygote() = default;

std::shared_ptr<internal::ZygoteProcess> Zygote::process() const {
  std::lock_guard<std::mutex> lock(mu_);
  return process_;
}

pid_t Zygote::zygote_pid() const { return process()->pid(); }

Zygote::Stats Zygote::stats() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->stats;
}

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
  std::unique_ptr<Worker> worker(new Worker(shared_, process, spawned->pid, spawned->fd));
  if (absl::Status status = worker->AwaitReady(); !status.ok()) return status;
  shared_->RecordSpawn();
  return worker;
}

absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> Zygote::Restart(
    const std::shared_ptr<internal::ZygoteProcess>& dead) {
  std::lock_guard<std::mutex> lock(mu_);
  if (process_ != dead) return process_;
  internal::ModuleInfo info;
  internal::UniqueFd snapshot_fd;
  // As the first start ended: a module whose init leaves threads does not run it again here.
  absl::StatusOr<std::shared_ptr<internal::ZygoteProcess>> process =
      internal::ZygoteProcess::Start(shared_->options, fork_before_init_, snapshot_fd_.get(),
                                     &info, &snapshot_fd);
  if (!process.ok()) return process.status();
  // The file may have been rebuilt in place since: a different module is not a restart.
  if (info.name != module_name_ || info.version != module_version_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", shared_->options.function_name(), "': cannot restart its zygote: module ",
        shared_->options.config.module().module_path(), " is now ", info.name, " ", info.version, ", was ",
        module_name_, " ", module_version_));
  }
  process_ = *std::move(process);
  fork_before_init_ = info.start.fork_point == ForkPoint::kBeforeInit;
  snapshot_fd_ = std::move(snapshot_fd);
  std::lock_guard<std::mutex> stats_lock(shared_->mu);
  ++shared_->stats.zygote_restarts;
  return process_;
}

}  // namespace fnhost
