#include "src/isolation/zygote_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"
#include "src/isolation/control_frames.h"
#include "src/common/file_system.h"
#include "src/isolation/worker_frames.h"
#include "src/isolation/process_spawner.h"

namespace fnhost::internal {
namespace {

// How long the zygote may take to answer a spawn or to report a killed worker; past it the
// zygote is taken for hung and killed. Generous: a fork of a huge state takes milliseconds.
constexpr absl::Duration kControlTimeout = absl::Seconds(30);

absl::Time ControlDeadline() { return Clock::Real()->Now() + kControlTimeout; }

// The first fnhost-zygote found: the configured path, next to the running executable, then in
// the build tree (for tests).
absl::StatusOr<std::string> FindZygoteExecutable(const ZygoteOptions& options) {
  if (!options.zygote_executable.empty()) return options.zygote_executable;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  std::string beside = error ? "" : (self.parent_path() / "fnhost-zygote").string();
  if (!beside.empty() && ::access(beside.c_str(), X_OK) == 0) return beside;
#ifdef FNHOST_ZYGOTE_BUILD_PATH
  if (::access(FNHOST_ZYGOTE_BUILD_PATH, X_OK) == 0) return std::string(FNHOST_ZYGOTE_BUILD_PATH);
#endif
  return absl::NotFoundError(FunctionMessage(
      options.function_name(), "no fnhost-zygote executable next to ",
      beside.empty() ? "the running executable" : beside,
      "; install it there or set ZygoteOptions::zygote_executable"));
}

// Adds the first zygote's part of a start to `second`'s report: the first ran the init, found
// threads and handed over to the second, which forks before the init.
void MergeFirstStart(const ZygoteStartReport& first, ZygoteStartReport* second) {
  second->file_checks += first.file_checks;
  second->dlopen += first.dlopen;
  second->abi_check += first.abi_check;
  second->state_init += first.state_init;
  second->init_threads = std::max(second->init_threads, first.init_threads);
  // The first zygote's init or restore is where the state came from; the second only maps
  // what the first wrote or restored from.
  std::erase_if(second->snapshot_events, [](const ZygoteStartReport::SnapshotNote& note) {
    return note.kind == SnapshotEventKind::kRestored;
  });
  second->restored = first.restored;
  second->snapshot_events.insert(second->snapshot_events.begin(), first.snapshot_events.begin(),
                                 first.snapshot_events.end());
}

}  // namespace

absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteProcess::Start(const ZygoteOptions& options,
                                                                    bool fork_before_init,
                                                                    int snapshot_fd,
                                                                    bool snapshot_is_reload,
                                                                    ZygoteStartReport* report,
                                                                    UniqueFd* snapshot_fd_out) {
  bool threaded = false;
  UniqueFd passed;
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> process = StartOnce(
      options, fork_before_init, snapshot_fd, snapshot_is_reload, report, &threaded, &passed);
  if (process.ok() && threaded) {
    // The first zygote ran the init, found threads and is gone; its successor forks before the
    // init and maps the snapshot the first one wrote (in the snapshot directory, or `passed`).
    const ZygoteStartReport first = std::move(*report);
    *report = ZygoteStartReport();
    const UniqueFd first_snapshot = std::move(passed);
    process = StartOnce(options, /*fork_before_init=*/true, first_snapshot.get(),
                        /*snapshot_is_reload=*/false, report, &threaded, &passed);
    if (!process.ok()) return process.status();
    MergeFirstStart(first, report);
    report->kept_state = first.kept_state;
  }
  if (process.ok() && snapshot_fd_out != nullptr) *snapshot_fd_out = std::move(passed);
  return process;
}

absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteProcess::StartOnce(
    const ZygoteOptions& options, bool fork_before_init, int snapshot_fd,
    bool snapshot_is_reload, ZygoteStartReport* report, bool* threaded, UniqueFd* passed) {
  const std::string& function = options.function_name();
  zygote::ZygoteConfig config = options.config;
  config.set_fork_before_init(fork_before_init);
  if (!snapshot_is_reload) config.mutable_module()->clear_reload_schema();
  const std::string encoded = config.SerializeAsString();
  if (encoded.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        FunctionMessage(function, "config of ", encoded.size(),
                        " bytes (init config included) is above the limit of ", kMaxConfigBytes));
  }
  absl::StatusOr<std::string> executable = FindZygoteExecutable(options);
  if (!executable.ok()) return executable.status();
  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0) {
    return ErrnoError(errno, "socketpair for the zygote of", function);
  }
  absl::StatusOr<pid_t> pid =
      SpawnHelper(*executable, {absl::StrCat(::getpid()), function}, channel[1]);
  ::close(channel[1]);
  if (!pid.ok()) {
    ::close(channel[0]);
    return absl::Status(pid.status().code(),
                        FunctionMessage(function, "zygote: ", pid.status().message()));
  }
  std::shared_ptr<ZygoteProcess> process(new ZygoteProcess(options, *pid, channel[0]));
  MutexLock lock(process->mu_);
  absl::Status status = process->Configure(encoded, snapshot_fd, report, threaded, passed);
  if (!status.ok()) return status;
  if (*threaded) {
    // It exits on its own (after removing what it must); reaped once its channel closes.
    FrameHeader header;
    std::string payload;
    while (process->ReadFrame(ControlDeadline(), &header, &payload, nullptr).ok()) {
    }
    process->MarkGone();
    return nullptr;
  }
  process->workers_run_init_ = report->workers_run_init;
  return process;
}

absl::Status ZygoteProcess::Configure(const std::string& config, int snapshot_fd,
                                      ZygoteStartReport* report, bool* threaded,
                                      UniqueFd* passed) {
  const std::string& function = function_name_;
  absl::Status status =
      SendFrame(fd_, FrameType::kConfig, 0, 0, config, ControlDeadline(), snapshot_fd);
  FrameHeader header;
  std::string payload;
  int passed_fd = -1;
  if (status.ok()) status = ReadInitAnswer(&header, &payload, &passed_fd);
  passed->reset(passed_fd);
  if (!status.ok()) {
    MarkGone();
    return absl::UnavailableError(
        FunctionMessage(function, GoneReasonLocked(), " while loading ", module_path_));
  }
  if (header.type == FrameType::kError) return ErrorFrameStatus(payload);
  zygote::StartReport message;
  if ((header.type != FrameType::kReady && header.type != FrameType::kThreadedInit) ||
      !ParseControl(payload, &message).ok() || !ReadStartReport(message, report)) {
    MarkGone();
    return absl::InternalError(FunctionMessage(
        function, "zygote ", pid_, " answered its config with a malformed frame"));
  }
  *threaded = header.type == FrameType::kThreadedInit;
  return absl::OkStatus();
}

absl::Status ZygoteProcess::ReadInitAnswer(FrameHeader* header, std::string* payload, int* fd) {
  std::string scratch;
  for (;;) {
    // No deadline: the module's init takes what it takes, as it would in process.
    absl::Status status = ReadFrame(absl::InfiniteFuture(), header, payload, fd);
    if (!status.ok() || !IsHostServiceFrame(header->type)) return status;
    UniqueFd stray(std::exchange(*fd, -1));
    status = HandleWorkerFrame(fd_, *header, *payload, services_, {}, ControlDeadline(),
                               std::min(max_message_bytes_, kMaxControlBytes), &scratch,
                               nullptr);
    if (!status.ok()) return status;
  }
}

ZygoteProcess::ZygoteProcess(const ZygoteOptions& options, pid_t pid, int fd)
    : function_name_(options.function_name()),
      module_path_(options.config.module().module_path()),
      services_(options.services),
      max_message_bytes_(options.config.worker().max_message_bytes()),
      pid_(pid),
      fd_(fd) {}

ZygoteProcess::~ZygoteProcess() {
  ::close(fd_);
  if (!gone_) {
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

absl::StatusOr<ZygoteProcess::Spawned> ZygoteProcess::Spawn() {
  MutexLock lock(mu_);
  if (gone_) return GoneError();
  const absl::Time deadline = ControlDeadline();
  if (!SendFrame(fd_, FrameType::kSpawn, 0, 0, {}, deadline).ok()) {
    MarkGone();
    return GoneError();
  }
  FrameHeader header;
  std::string payload;
  int fd = -1;
  int denials_fd = -1;
  do {
    if (!ReadFrame(deadline, &header, &payload, &fd, &denials_fd).ok()) {
      MarkGone();
      return GoneError();
    }
  } while (header.type == FrameType::kExited);
  zygote::Spawned spawned;
  if (header.type == FrameType::kSpawned && fd >= 0 && ParseControl(payload, &spawned).ok()) {
    const auto pid = static_cast<pid_t>(spawned.pid());
    watched_.insert(pid);
    return Spawned{pid, fd, denials_fd};
  }
  if (fd >= 0) ::close(fd);
  if (denials_fd >= 0) ::close(denials_fd);
  if (header.type == FrameType::kError) return ErrorFrameStatus(payload);
  MarkGone();
  return GoneError();
}

void ZygoteProcess::Kill(pid_t worker) {
  MutexLock lock(mu_);
  if (gone_) return;
  zygote::Kill kill;
  kill.set_pid(worker);
  if (!SendControl(fd_, FrameType::kKill, kill, ControlDeadline()).ok()) MarkGone();
}

std::optional<WorkerExit> ZygoteProcess::AwaitExit(pid_t worker) {
  MutexLock lock(mu_);
  const absl::Time deadline = ControlDeadline();
  for (;;) {
    if (auto it = exits_.find(worker); it != exits_.end()) return it->second;
    if (gone_) return std::nullopt;
    FrameHeader header;
    std::string payload;
    if (!ReadFrame(deadline, &header, &payload, nullptr).ok() ||
        header.type != FrameType::kExited) {
      MarkGone();
    }
  }
}

void ZygoteProcess::Forget(pid_t worker) {
  MutexLock lock(mu_);
  watched_.erase(worker);
  exits_.erase(worker);
}

bool ZygoteProcess::gone() const {
  MutexLock lock(mu_);
  return gone_;
}

std::string ZygoteProcess::GoneReason() const {
  MutexLock lock(mu_);
  return GoneReasonLocked();
}

std::string ZygoteProcess::GoneReasonLocked() const {
  return absl::StrCat("zygote ", pid_, " ", DescribeWaitStatus(wait_status_));
}

absl::Status ZygoteProcess::GoneError() const {
  return absl::UnavailableError(FunctionMessage(function_name_, GoneReasonLocked()));
}

absl::Status ZygoteProcess::ReadFrame(absl::Time deadline, FrameHeader* header,
                                      std::string* payload, int* fd, int* second_fd) {
  absl::Status status = RecvFrame(fd_, kMaxControlBytes, deadline, header, payload, fd, second_fd);
  if (!status.ok() || header->type != FrameType::kExited) return status;
  zygote::Exited exited;
  if (absl::Status parsed = ParseControl(*payload, &exited); !parsed.ok()) return parsed;
  if (const auto pid = static_cast<pid_t>(exited.pid()); watched_.contains(pid)) {
    exits_[pid] = WorkerExit{exited.wait_status(), exited.killed_on_request(), exited.oom_killed()};
  }
  return absl::OkStatus();
}

void ZygoteProcess::MarkGone() {
  if (gone_) return;
  // Not reaped yet, so the pid is still this zygote's. A no-op if it is already dying.
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
  }
  gone_ = true;
}

}  // namespace fnhost::internal
