#include "src/isolation/zygote_state.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"
#include "src/host/state_snapshots.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_process.h"
#include "src/snapshot/snapshot_memfd.h"

namespace fnhost::internal {
namespace {

// How reports and messages name a snapshot that lives in a memfd.
constexpr char kMemfdName[] = "(sealed memfd)";
// Bound of a builder's report (its snapshot events' messages).
constexpr uint32_t kMaxReportBytes = 1 << 20;

}  // namespace

int CountThreads() {
  std::error_code error;
  int threads = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++threads;
  }
  return threads;
}

absl::Status ZygoteState::Load() {
  LoadOptions options;
  options.allow_writable = config_.allow_writable;
  options.sha256 = config_.sha256;
  absl::StatusOr<std::unique_ptr<LoadedModule>> module =
      LoadedModule::Load(config_.function_name, config_.module_path, options, *Clock::Real(),
                         &timings_);
  if (!module.ok()) return module.status();
  module_ = *std::move(module);
  if (int threads = CountThreads(); threads > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", config_.function_name, "': loading module ", config_.module_path,
        " started ", threads - 1,
        " thread(s) (in the constructors of the module or of its libraries) before any init; "
        "the process isolation mode forks workers from a single-threaded zygote, so it cannot "
        "isolate this module"));
  }
  return absl::OkStatus();
}

absl::Status ZygoteState::InitHere() {
  CallOutput error(nullptr);
  fnhost_host_init_context context = Context(&error);
  const absl::Time start = Clock::Real()->Now();
  int32_t code = table().state_create(&context, &state_);
  state_init_ = Clock::Real()->Now() - start;
  init_threads_ = CountThreads();
  if (code == FNHOST_STATUS_OK) return absl::OkStatus();
  state_ = nullptr;
  return StateInitError(error, code, config_.function_name, config_.module_path);
}

absl::StatusOr<bool> ZygoteState::BuildHere() {
  if (!config_.snapshot_dir.empty() && snapshots()) TryRestore();
  if (state_ == nullptr) {
    if (absl::Status status = InitHere(); !status.ok()) return status;
  }
  const bool threaded = init_threads_ > 1;
  if (threaded) fork_point_ = ForkPoint::kBeforeInit;
  // Before the report, so that the host learns how it went; once per module build.
  if (snapshot_ == nullptr) PersistSnapshot(/*or_memfd=*/threaded);
  return threaded;
}

absl::Status ZygoteState::PrepareBeforeInit(UniqueFd handed) {
  fork_point_ = ForkPoint::kBeforeInit;
  if (!snapshots()) return absl::OkStatus();  // each worker runs the init
  if (absl::Status status = ComputeIdentity(); !status.ok()) {
    Note(SnapshotEventKind::kRejected, AsStd(status.message()));
    return absl::OkStatus();
  }
  if (handed.valid()) {
    absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
        OpenSealedMemfd(handed.get(), kMemfdName, identity_);
    if (mapped.ok()) {
      snapshot_ = *std::move(mapped);
      snapshot_fd_ = std::move(handed);
      return absl::OkStatus();
    }
    Note(SnapshotEventKind::kRejected, AsStd(mapped.status().message()));
  }
  if (!config_.snapshot_dir.empty()) {
    snapshot_path_ = SnapshotPath(config_.snapshot_dir, config_.function_name, identity_);
    if (MapDirectorySnapshot()) {
      restored_ = true;
      Note(SnapshotEventKind::kRestored, "");
      return absl::OkStatus();
    }
  }
  return RunBuilder();
}

absl::Status ZygoteState::ComputeIdentity() {
  if (identity_known_) return absl::OkStatus();
  absl::StatusOr<snapshot::ModuleIdentity> identity = IdentityOf(*module_, config_.init_config);
  if (!identity.ok()) return identity.status();
  identity_ = *std::move(identity);
  identity_known_ = true;
  return absl::OkStatus();
}

void ZygoteState::PersistSnapshot(bool or_memfd) {
  if (!snapshots()) return;
  const absl::Time now = Clock::Real()->WallNow();
  if (!snapshot_path_.empty()) {
    absl::Status written = WriteStateSnapshot(table(), state_, config_.function_name,
                                              FileSystem::Default(), snapshot_path_, identity_,
                                              now);
    Note(written.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed,
         AsStd(written.message()));
    if (written.ok()) return;
  }
  if (!or_memfd) return;
  if (absl::Status status = ComputeIdentity(); !status.ok()) {
    Note(SnapshotEventKind::kWriteFailed, AsStd(status.message()));
    return;
  }
  absl::StatusOr<int> fd =
      WriteStateSnapshotToMemfd(table(), state_, config_.function_name, kMemfdName, identity_, now);
  Note(fd.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed,
       fd.ok() ? kMemfdName : AsStd(fd.status().message()));
  if (fd.ok()) snapshot_fd_.reset(*fd);
}

void ZygoteState::TryRestore() {
  if (absl::Status status = ComputeIdentity(); !status.ok()) {
    Note(SnapshotEventKind::kRejected, AsStd(status.message()));
    return;
  }
  snapshot_path_ = SnapshotPath(config_.snapshot_dir, config_.function_name, identity_);
  const absl::Time start = Clock::Real()->Now();
  if (!MapDirectorySnapshot()) return;
  CallOutput error(nullptr);
  fnhost_host_init_context context = Context(&error);
  absl::StatusOr<fnhost_module_state*> state = RestoreFromSnapshot(table(), context, *snapshot_);
  if (!state.ok()) {
    std::string why(AsStd(state.status().message()));
    if (!error.error_message().empty()) why += ": " + error.error_message();
    Note(SnapshotEventKind::kRejected, why);
    snapshot_.reset();
    return;
  }
  state_ = *state;
  state_init_ = Clock::Real()->Now() - start;
  init_threads_ = CountThreads();
  restored_ = true;
  Note(SnapshotEventKind::kRestored, "");
}

bool ZygoteState::MapDirectorySnapshot() {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      OpenStateSnapshot(snapshot_path_, identity_, config_.trust_private_snapshot_dir);
  if (!mapped.ok()) {
    if (!absl::IsNotFound(mapped.status())) {
      Note(SnapshotEventKind::kRejected, AsStd(mapped.status().message()));
    }
    return false;
  }
  snapshot_ = *std::move(mapped);
  return true;
}

absl::Status ZygoteState::RunBuilder() {
  const std::string& function = config_.function_name;
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
  // No deadline: the module's init takes what it takes, as it would in the zygote.
  absl::Status received = RecvFrame(ours.get(), kMaxReportBytes, absl::InfiniteFuture(), &header,
                                    &payload, &passed_fd);
  UniqueFd passed(passed_fd);
  ::kill(-pid, SIGKILL);  // the builder is done; whatever its init started goes with it
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!received.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "function '", function, "': snapshot builder ", pid, " ",
        DescribeWaitStatus(wait_status), " during state init (module ", config_.module_path,
        ")"));
  }
  if (header.type == FrameType::kError) {
    return absl::Status(static_cast<absl::StatusCode>(header.code), payload);
  }
  ModuleInfo built;
  if (header.type != FrameType::kBuilt || !DecodeModuleInfo(payload, &built)) {
    return absl::InternalError(absl::StrCat("function '", function, "': snapshot builder ", pid,
                                            " sent a malformed report"));
  }
  state_init_ = built.start.state_init;
  init_threads_ = built.start.init_threads;
  for (const Zygote::StartReport::SnapshotNote& note : built.start.snapshot_events) {
    Note(note.kind, note.detail);
  }
  if (!passed.valid()) {
    if (!snapshot_path_.empty()) MapDirectorySnapshot();
    return absl::OkStatus();  // without a snapshot, each worker runs the init
  }
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      OpenSealedMemfd(passed.get(), kMemfdName, identity_);
  if (!mapped.ok()) {
    Note(SnapshotEventKind::kRejected, AsStd(mapped.status().message()));
    return absl::OkStatus();
  }
  snapshot_ = *std::move(mapped);
  snapshot_fd_ = std::move(passed);
  return absl::OkStatus();
}

void ZygoteState::BuilderMain(pid_t zygote, int channel) {
  // Dies with its zygote; the check after the prctl catches one that died before.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote) ::_exit(1);
  ::setpgid(0, 0);
  ::close(kChildChannelFd);  // the zygote's channel to the host
  snapshot_events_.clear();  // the zygote has its own
  absl::Status status = InitHere();
  if (status.ok()) PersistSnapshot(/*or_memfd=*/true);
  if (!status.ok()) {
    SendFrame(channel, FrameType::kError, static_cast<int32_t>(status.code()), 0,
              AsStd(status.message()), absl::InfiniteFuture())
        .IgnoreError();
  } else {
    SendFrame(channel, FrameType::kBuilt, 0, 0, EncodeModuleInfo(Report()),
              absl::InfiniteFuture(), snapshot_fd_.get())
        .IgnoreError();
  }
  // No destructors, no unload: the module's threads end with the process.
  ::_exit(0);
}

absl::StatusOr<fnhost_module_state*> ZygoteState::StateForWorker() const {
  CallOutput error(nullptr);
  fnhost_host_init_context context = Context(&error);
  if (state_ != nullptr) {  // forked after init: the post-fork hook
    if (table().state_after_restore != nullptr) {
      int32_t code = table().state_after_restore(state_, &context);
      if (code != FNHOST_STATUS_OK) {
        return error.ToStatus(code, config_.function_name, "state after restore");
      }
    }
    return state_;
  }
  if (snapshot_ != nullptr) {
    absl::StatusOr<fnhost_module_state*> restored =
        RestoreFromSnapshot(table(), context, *snapshot_);
    if (restored.ok()) return *restored;
    // As the in-process host does with a snapshot it cannot use: say why, then run the init.
    std::fprintf(stderr, "[fnhost:%s] worker %d: %s%s%s; state built by init instead\n",
                 config_.function_name.c_str(), static_cast<int>(::getpid()),
                 std::string(restored.status().message()).c_str(),
                 error.error_message().empty() ? "" : ": ", error.error_message().c_str());
  }
  CallOutput init_error(nullptr);
  context = Context(&init_error);
  fnhost_module_state* state = nullptr;
  int32_t code = table().state_create(&context, &state);
  if (code != FNHOST_STATUS_OK) {
    return StateInitError(init_error, code, config_.function_name, config_.module_path);
  }
  return state;
}

ModuleInfo ZygoteState::Report() const {
  ModuleInfo info;
  info.name = table().name;
  info.version = table().version;
  info.max_concurrency = static_cast<int>(table().max_concurrency_per_instance);
  Zygote::StartReport& start = info.start;
  start.file_checks = timings_.file_checks;
  start.dlopen = timings_.dlopen;
  start.abi_check = timings_.abi_check;
  start.state_init = state_init_;
  start.restored = restored_;
  start.snapshot_path = snapshot_fd_.valid() ? kMemfdName : snapshot_path_;
  for (const auto& [kind, detail] : snapshot_events_) {
    start.snapshot_events.push_back({kind, detail});
  }
  start.fork_point = fork_point_;
  start.init_threads = init_threads_;
  start.workers_run_init = fork_point_ == ForkPoint::kBeforeInit && snapshot_ == nullptr &&
                           state_ == nullptr;
  return info;
}

}  // namespace fnhost::internal
