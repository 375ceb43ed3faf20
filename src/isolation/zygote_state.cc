#include "src/isolation/zygote_state.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"
#include "src/common/function_error.h"
#include "src/isolation/control_frames.h"
#include "src/isolation/worker_loss.h"
#include "src/isolation/worker_protocol.h"

namespace fnhost::internal {
int CountThreads() {
  std::error_code error;
  int threads = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++threads;
  }
  return threads;
}

ZygoteState::ZygoteState(const zygote::ZygoteConfig& config)
    : services_(config.module()),
      builder_(config.module(), *Clock::Real(), *FileSystem::Default(), &notes_, &services_) {}

void ZygoteState::SetReloadSource(UniqueFd fd) {
  reload_fd_ = std::move(fd);
  builder_.SetReloadSource(reload_fd_.get(), builder_.config().reload_schema());
}

absl::Status ZygoteState::Load() {
  if (absl::Status status = builder_.Load(&timings_); !status.ok()) return status;
  if (int threads = CountThreads(); threads > 1) {
    return absl::FailedPreconditionError(FunctionMessage(
        function(), "loading module ", builder_.config().module_path(), " started ",
        threads - 1,
        " thread(s) (in the constructors of the module or of its libraries) before any init; "
        "the process isolation mode forks workers from a single-threaded zygote, so it cannot "
        "isolate this module"));
  }
  return absl::OkStatus();
}

absl::Status ZygoteState::InitHere() {
  const absl::Time start = Clock::Real()->Now();
  absl::StatusOr<fnhost_module_state*> state = builder_.Init();
  state_init_ = Clock::Real()->Now() - start;
  init_threads_ = CountThreads();
  if (!state.ok()) return state.status();
  state_ = *state;
  return absl::OkStatus();
}

absl::StatusOr<bool> ZygoteState::BuildHere() {
  absl::StatusOr<StateBuilder::Built> built = builder_.Build();
  if (!built.ok()) return built.status();
  state_ = built->state;
  restored_ = built->restored;
  kept_state_ = built->kept_state;
  state_init_ = built->duration;
  init_threads_ = CountThreads();
  const bool threaded = init_threads_ > 1;
  if (threaded) fork_point_ = ForkPoint::kBeforeInit;
  PersistAfterBuild(threaded);
  return threaded;
}

void ZygoteState::PersistAfterBuild(bool threaded) {
  // Before the report, so that the host learns how it went; once per module build.
  if (!kept_state_) {
    if (!restored_) PersistSnapshot(/*or_memfd=*/threaded);
    return;
  }
  // A reload's state is no init's: never written to the snapshot directory, only handed to
  // the successor that forks before the init.
  if (!threaded || !builder_.snapshots()) return;
  absl::StatusOr<int> fd = builder_.WriteSnapshotToMemfd(state_);
  if (fd.ok()) snapshot_fd_.reset(*fd);
}

absl::Status ZygoteState::PrepareBeforeInit(UniqueFd handed) {
  fork_point_ = ForkPoint::kBeforeInit;
  if (reload_fd_.valid() && builder_.KeepsReloadState()) {
    // Every worker restores from the replaced version's state; the mapping is what they
    // inherit, and the host keeps the memfd for restarts.
    absl::Status status;
    if (!builder_.MapReloadSource(&status)) return status;
    kept_state_ = true;
    restored_ = true;
    return absl::OkStatus();
  }
  if (!builder_.snapshots()) return absl::OkStatus();  // each worker runs the init
  if (absl::Status status = builder_.ComputeIdentity(); !status.ok()) {
    notes_.OnSnapshotEvent(SnapshotEventKind::kRejected, "", AsStd(status.message()));
    return absl::OkStatus();
  }
  if (handed.valid() && builder_.MapMemfdSnapshot(handed.get())) {
    snapshot_fd_ = std::move(handed);
    return absl::OkStatus();
  }
  if (builder_.MapDirectorySnapshot()) {
    restored_ = true;
    notes_.OnSnapshotEvent(SnapshotEventKind::kRestored, builder_.snapshot_path(), "");
    return absl::OkStatus();
  }
  return RunBuilder();
}

void ZygoteState::PersistSnapshot(bool or_memfd) {
  if (!builder_.snapshots()) return;
  if (builder_.ShouldWriteSnapshot() && builder_.WriteSnapshot(state_).ok()) return;
  if (!or_memfd) return;
  absl::StatusOr<int> fd = builder_.WriteSnapshotToMemfd(state_);
  if (fd.ok()) snapshot_fd_.reset(*fd);
}

absl::Status ZygoteState::RunBuilder() {
  const std::string& function = this->function();
  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0) {
    return ErrnoError(errno, "socketpair for the snapshot builder of", function);
  }
  std::fflush(nullptr);  // or the child would write the zygote's buffered output again
  const pid_t zygote = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(channel[0]);
    BuilderMain(zygote, channel[1]);
  }
  ::close(channel[1]);
  UniqueFd ours(channel[0]);
  if (pid < 0) return ErrnoError(errno, "fork of the snapshot builder of", function);
  ::setpgid(pid, pid);  // also here, so that the group exists whichever runs first
  FrameHeader header;
  std::string payload;
  int passed_fd = -1;
  // No deadline: the module's init takes what it takes, as it would in the zygote. Its host
  // calls and log lines go on to the host.
  absl::Status received;
  for (;;) {
    received = RecvFrame(ours.get(), kMaxControlBytes, absl::InfiniteFuture(), &header,
                         &payload, &passed_fd);
    if (!received.ok() || (header.type != FrameType::kHostCall && header.type != FrameType::kLog)) {
      break;
    }
    UniqueFd stray(std::exchange(passed_fd, -1));
    if (!ForwardToHost(ours.get(), kChildChannelFd, header, payload)) {
      received = absl::UnavailableError("the host is gone");
      break;
    }
  }
  UniqueFd passed(passed_fd);
  ::kill(-pid, SIGKILL);  // the builder is done; whatever its init started goes with it
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!received.ok()) {
    return absl::UnavailableError(FunctionMessage(
        function, "snapshot builder ", pid, " ", DescribeWaitStatus(wait_status),
        " during state init (module ", builder_.config().module_path(), ")"));
  }
  if (header.type == FrameType::kError) return ErrorFrameStatus(payload);
  zygote::StartReport built;
  if (header.type != FrameType::kBuilt || !ParseControl(payload, &built).ok()) {
    return absl::InternalError(
        FunctionMessage(function, "snapshot builder ", pid, " sent a malformed report"));
  }
  state_init_ = absl::Nanoseconds(built.state_init_nanos());
  init_threads_ = static_cast<int>(built.init_threads());
  notes_.events.MergeFrom(built.snapshot_event());
  if (!passed.valid()) {
    builder_.MapDirectorySnapshot();
    return absl::OkStatus();  // without a snapshot, each worker runs the init
  }
  if (builder_.MapMemfdSnapshot(passed.get())) snapshot_fd_ = std::move(passed);
  return absl::OkStatus();
}

void ZygoteState::BuilderMain(pid_t zygote, int channel) {
  // Dies with its zygote; the check after the prctl catches one that died before.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote) ::_exit(1);
  ::setpgid(0, 0);
  ::close(kChildChannelFd);  // the zygote's channel to the host
  services_.set_channel(channel);  // host calls and log lines go through the zygote
  notes_.events.Clear();     // the zygote has its own
  absl::Status status = InitHere();
  if (status.ok()) PersistSnapshot(/*or_memfd=*/true);
  if (!status.ok()) {
    SendError(channel, status, absl::InfiniteFuture()).IgnoreError();
  } else {
    SendControl(channel, FrameType::kBuilt, Report(), absl::InfiniteFuture(), snapshot_fd_.get())
        .IgnoreError();
  }
  // No destructors, no unload: the module's threads end with the process.
  ::_exit(0);
}

absl::StatusOr<fnhost_module_state*> ZygoteState::StateForWorker() const {
  if (state_ != nullptr) {  // forked after init: the post-fork hook
    if (absl::Status status = builder_.AfterFork(state_); !status.ok()) return status;
    return state_;
  }
  if (const MappedSnapshot* snapshot = builder_.snapshot(); snapshot != nullptr) {
    absl::StatusOr<fnhost_module_state*> restored = builder_.Restore(*snapshot);
    if (restored.ok()) return *restored;
    // A reload's state cannot be rebuilt by an init: the worker fails to start.
    if (kept_state_) return restored.status();
    // As the in-process host does with a snapshot it cannot use: say why, then run the init.
    std::fprintf(stderr, "[fnhost:%s] worker %d: %s; state built by init instead\n",
                 function().c_str(), static_cast<int>(::getpid()),
                 std::string(restored.status().message()).c_str());
  }
  return builder_.Init();
}

zygote::StartReport ZygoteState::Report() const {
  zygote::StartReport report;
  report.set_module_name(table().name);
  report.set_module_version(table().version);
  report.set_max_concurrency(table().max_concurrency_per_instance);
  report.set_file_checks_nanos(absl::ToInt64Nanoseconds(timings_.file_checks));
  report.set_dlopen_nanos(absl::ToInt64Nanoseconds(timings_.dlopen));
  report.set_abi_check_nanos(absl::ToInt64Nanoseconds(timings_.abi_check));
  report.set_state_init_nanos(absl::ToInt64Nanoseconds(state_init_));
  report.set_restored(restored_);
  report.set_snapshot_path(snapshot_fd_.valid() ? kMemfdSnapshotName : builder_.snapshot_path());
  *report.mutable_snapshot_event() = notes_.events;
  report.set_fork_point(static_cast<uint32_t>(fork_point_));
  report.set_init_threads(static_cast<uint32_t>(init_threads_));
  report.set_workers_run_init(fork_point_ == ForkPoint::kBeforeInit &&
                              builder_.snapshot() == nullptr && state_ == nullptr);
  report.set_state_schema(table().state_schema);
  report.set_kept_state(kept_state_);
  return report;
}

}  // namespace fnhost::internal
