#include "src/isolation/zygote_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/isolation/process_spawner.h"

namespace fnhost::internal {
namespace {

// How long the zygote may take to answer a spawn or to report a killed worker; past it the
// zygote is taken for hung and killed. Generous: a fork of a huge state takes milliseconds.
constexpr absl::Duration kControlTimeout = absl::Seconds(30);
constexpr uint32_t kMaxControlBytes = 1 << 20;  // module name and version, pids

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
  return absl::NotFoundError(
      absl::StrCat("function '", options.function_name(), "': no fnhost-zygote executable next to ",
                   beside.empty() ? "the running executable" : beside,
                   "; install it there or set ZygoteOptions::zygote_executable"));
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    int signal = WTERMSIG(wait_status);
    const char* abbrev = ::sigabbrev_np(signal);
    const char* description = ::sigdescr_np(signal);
    return absl::StrCat("killed by signal ",
                        abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat(signal),
                        " (", description != nullptr ? description : "unknown signal", ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
}

absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteProcess::Start(const ZygoteOptions& options,
                                                                    bool fork_before_init,
                                                                    int snapshot_fd,
                                                                    ModuleInfo* info,
                                                                    UniqueFd* snapshot_fd_out) {
  bool threaded = false;
  UniqueFd passed;
  absl::StatusOr<std::shared_ptr<ZygoteProcess>> process =
      StartOnce(options, fork_before_init, snapshot_fd, info, &threaded, &passed);
  if (process.ok() && threaded) {
    // The first zygote ran the init, found threads and is gone; its successor forks before the
    // init and maps the snapshot the first one wrote (in the snapshot directory, or `passed`).
    ModuleInfo first = std::move(*info);
    *info = ModuleInfo();
    UniqueFd first_snapshot = std::move(passed);
    process = StartOnce(options, /*fork_before_init=*/true, first_snapshot.get(), info,
                        &threaded, &passed);
    if (!process.ok()) return process.status();
    Zygote::StartReport& start = info->start;
    start.file_checks += first.start.file_checks;
    start.dlopen += first.start.dlopen;
    start.abi_check += first.start.abi_check;
    start.state_init += first.start.state_init;
    start.init_threads = std::max(start.init_threads, first.start.init_threads);
    // The first zygote's init or restore is where the state came from; the second only maps
    // what the first wrote or restored from.
    std::erase_if(start.snapshot_events, [](const Zygote::StartReport::SnapshotNote& note) {
      return note.kind == SnapshotEventKind::kRestored;
    });
    start.restored = first.start.restored;
    start.snapshot_events.insert(start.snapshot_events.begin(),
                                 first.start.snapshot_events.begin(),
                                 first.start.snapshot_events.end());
  }
  if (process.ok() && snapshot_fd_out != nullptr) *snapshot_fd_out = std::move(passed);
  return process;
}

absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteProcess::StartOnce(
    const ZygoteOptions& options, bool fork_before_init, int snapshot_fd, ModuleInfo* info,
    bool* threaded, UniqueFd* passed) {
  const std::string& function = options.function_name();
  zygote::ZygoteConfig config = options.config;
  config.set_fork_before_init(fork_before_init);
  const std::string encoded = config.SerializeAsString();
  if (encoded.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", function, "': config of ", encoded.size(),
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
    return absl::Status(pid.status().code(), absl::StrCat("function '", function,
                                                          "': zygote: ", pid.status().message()));
  }
  std::shared_ptr<ZygoteProcess> process(new ZygoteProcess(function, *pid, channel[0]));

  std::lock_guard<std::mutex> lock(process->mu_);
  absl::Status status = SendFrame(process->fd_, FrameType::kConfig, 0, 0,
                                  encoded, ControlDeadline(),
                                  snapshot_fd);
  FrameHeader header;
  std::string payload;
  int passed_fd = -1;
  // No deadline: the module's init takes what it takes, as it would in process.
  if (status.ok()) {
    status = process->ReadFrame(absl::InfiniteFuture(), &header, &payload, &passed_fd);
  }
  passed->reset(passed_fd);
  if (!status.ok()) {
    process->MarkGone();
    return absl::UnavailableError(absl::StrCat("function '", function,
                                               "': ", process->GoneReasonLocked(),
                                               " while loading ", options.config.module().module_path()));
  }
  if (header.type == FrameType::kError) {
    return absl::Status(static_cast<absl::StatusCode>(header.code), payload);
  }
  if ((header.type != FrameType::kReady && header.type != FrameType::kThreadedInit) ||
      !DecodeModuleInfo(payload, info)) {
    process->MarkGone();
    return absl::InternalError(absl::StrCat("function '", function, "': zygote ", *pid,
                                            " answered its config with a malformed frame"));
  }
  *threaded = header.type == FrameType::kThreadedInit;
  if (*threaded) {
    // It exits on its own (after removing what it must); reaped once its channel closes.
    while (process->ReadFrame(ControlDeadline(), &header, &payload, nullptr).ok()) {
    }
    process->MarkGone();
    return nullptr;
  }
  process->workers_run_init_ = info->start.workers_run_init;
  return process;
}

ZygoteProcess::ZygoteProcess(std::string function_name, pid_t pid, int fd)
    : function_name_(std::move(function_name)), pid_(pid), fd_(fd) {}

ZygoteProcess::~ZygoteProcess() {
  ::close(fd_);
  if (!gone_) {
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

absl::StatusOr<ZygoteProcess::Spawned> ZygoteProcess::Spawn() {
  std::lock_guard<std::mutex> lock(mu_);
  if (gone_) return GoneError();
  absl::Time deadline = ControlDeadline();
  if (!SendFrame(fd_, FrameType::kSpawn, 0, 0, {}, deadline).ok()) {
    MarkGone();
    return GoneError();
  }
  FrameHeader header;
  std::string payload;
  int fd = -1;
  do {
    if (!ReadFrame(deadline, &header, &payload, &fd).ok()) {
      MarkGone();
      return GoneError();
    }
  } while (header.type == FrameType::kExited);
  uint64_t pid = 0;
  if (header.type == FrameType::kSpawned && fd >= 0 && FieldReader(payload).U64(&pid)) {
    watched_.insert(static_cast<pid_t>(pid));
    return Spawned{static_cast<pid_t>(pid), fd};
  }
  if (fd >= 0) ::close(fd);
  if (header.type == FrameType::kError) {
    return absl::Status(static_cast<absl::StatusCode>(header.code), payload);
  }
  MarkGone();
  return GoneError();
}

void ZygoteProcess::Kill(pid_t worker) {
  std::lock_guard<std::mutex> lock(mu_);
  if (gone_) return;
  std::string payload;
  PutU64(&payload, static_cast<uint64_t>(worker));
  if (!SendFrame(fd_, FrameType::kKill, 0, 0, payload, ControlDeadline()).ok()) MarkGone();
}

std::optional<WorkerExit> ZygoteProcess::AwaitExit(pid_t worker) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time deadline = ControlDeadline();
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
  std::lock_guard<std::mutex> lock(mu_);
  watched_.erase(worker);
  exits_.erase(worker);
}

bool ZygoteProcess::gone() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gone_;
}

std::string ZygoteProcess::GoneReason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return GoneReasonLocked();
}

std::string ZygoteProcess::GoneReasonLocked() const {
  return absl::StrCat("zygote ", pid_, " ", DescribeWaitStatus(wait_status_));
}

absl::Status ZygoteProcess::GoneError() const {
  return absl::UnavailableError(
      absl::StrCat("function '", function_name_, "': ", GoneReasonLocked()));
}

absl::Status ZygoteProcess::ReadFrame(absl::Time deadline, FrameHeader* header,
                                      std::string* payload, int* fd) {
  absl::Status status = RecvFrame(fd_, kMaxControlBytes, deadline, header, payload, fd);
  if (!status.ok() || header->type != FrameType::kExited) return status;
  FieldReader reader(*payload);
  uint64_t pid, wait_status, killed;
  if (!reader.U64(&pid) || !reader.U64(&wait_status) || !reader.U64(&killed)) {
    return absl::DataLossError("malformed exit report");
  }
  if (watched_.contains(static_cast<pid_t>(pid))) {
    exits_[static_cast<pid_t>(pid)] = WorkerExit{static_cast<int>(wait_status), killed != 0};
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
