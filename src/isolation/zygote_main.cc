// fnhost-zygote: the helper process of the process isolation mode (see zygote_client.h).
//
// The host posix_spawns it with one socket, its control channel, as fd 3 and sends a kConfig
// frame. The zygote loads and checks the module with the same loader as the in-process host,
// builds the module's state (or restores it from a snapshot, and writes one after an init, as
// the in-process host does), and answers kReady or kError. Then it serves kSpawn (fork a worker,
// send the host its socket) and kKill, reaps its workers and reports each exit status
// (kExited). When the host goes away (EOF on the channel, or the parent-death signal) it kills
// and reaps every worker and exits.
//
// A worker is a fork of the zygote: it shares the built state copy-on-write, runs the module's
// post-fork hook (state_after_restore) and creates one instance, then serves one call at a time
// on its own socket until the host closes it.
//
// Single-threaded for its whole life, so that fork is safe: the zygote refuses a module whose
// init leaves threads behind.

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fnhost/abi.h"
#include "fnhost/clock.h"
#include "fnhost/metrics.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"
#include "src/host/abi_glue.h"
#include "src/host/state_snapshots.h"
#include "src/isolation/worker_protocol.h"
#include "src/loader/module_loader.h"

namespace fnhost::internal {
namespace {

constexpr int kControlFd = kChildChannelFd;
constexpr uint32_t kMaxControlBytes = 1024;
const absl::Time kNoDeadline = absl::InfiniteFuture();

struct Config {
  std::string function_name;
  std::string module_path;
  std::string init_config;
  std::string sha256;
  bool allow_writable = false;
  uint64_t memory_limit = 0;
  uint32_t max_message_bytes = 0;
  std::string snapshot_dir;  // empty: snapshots off
  bool trust_private_snapshot_dir = true;
  absl::Duration spin_budget;  // of a worker waiting for its next request
};

bool ParseConfig(std::string_view payload, Config* config) {
  FieldReader reader(payload);
  std::string_view function_name, module_path, init_config, sha256, snapshot_dir;
  uint64_t allow_writable, memory_limit, max_message_bytes, trust_private_snapshot_dir,
      spin_budget_nanos;
  if (!reader.String(&function_name) || !reader.String(&module_path) ||
      !reader.String(&init_config) || !reader.String(&sha256) || !reader.U64(&allow_writable) ||
      !reader.U64(&memory_limit) || !reader.U64(&max_message_bytes) ||
      !reader.String(&snapshot_dir) || !reader.U64(&trust_private_snapshot_dir) ||
      !reader.U64(&spin_budget_nanos)) {
    return false;
  }
  // SpinPolicy caps it again: a corrupt value cannot make a worker spin for long.
  config->spin_budget = absl::Nanoseconds(std::min<uint64_t>(spin_budget_nanos, 1'000'000'000));
  config->snapshot_dir = snapshot_dir;
  config->trust_private_snapshot_dir = trust_private_snapshot_dir != 0;
  config->function_name = function_name;
  config->module_path = module_path;
  config->init_config = init_config;
  config->sha256 = sha256;
  config->allow_writable = allow_writable != 0;
  config->memory_limit = memory_limit;
  config->max_message_bytes = static_cast<uint32_t>(max_message_bytes);
  return true;
}

// Sends a frame to the host from a worker, or from the zygote before it has workers: a host
// that is gone ends this process.
void SendOrExit(int fd, FrameType type, int32_t code, uint16_t flags, std::string_view payload) {
  if (!SendFrame(fd, type, code, flags, payload, kNoDeadline).ok()) {
    ::_exit(kExitChannelBroken);
  }
}

void SendError(int fd, const absl::Status& status) {
  SendOrExit(fd, FrameType::kError, static_cast<int32_t>(status.code()), 0,
             AsStd(status.message()));
}

int CountThreads() {
  std::error_code error;
  int threads = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++threads;
  }
  return threads;
}

// This process's children, as /proc lists them (empty where the kernel does not).
std::vector<pid_t> Children() {
  std::vector<pid_t> children;
  std::ifstream in(absl::StrCat("/proc/self/task/", ::getpid(), "/children"));
  for (pid_t pid; in >> pid;) children.push_back(pid);
  return children;
}

uint64_t AddressSpaceBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  in >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// ---- The worker ----------------------------------------------------------------------------

bool hit_memory_limit = false;

// Installed in workers with a memory limit: notes that the limit was reached, then fails the
// allocation as operator new would.
void OnOutOfMemory() {
  hit_memory_limit = true;
  throw std::bad_alloc();
}

class WorkerProcess {
 public:
  WorkerProcess(const Config& config, const fnhost_module_v1& table, fnhost_module_state* state)
      : config_(config), table_(table), state_(state) {}

  // Runs in the child right after fork; never returns.
  // `zygote_fds` are the zygote's own descriptors, closed here.
  [[noreturn]] void Run(pid_t zygote, int channel, std::initializer_list<int> zygote_fds) {
    // The check after the prctl catches a zygote that died before the signal was armed.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote) ::_exit(1);
    // Its own process group, so that the zygote can kill whatever the worker forks.
    ::setpgid(0, 0);
    // The zygote's descriptors go; what the module opened during init stays.
    if (::dup2(channel, kChildChannelFd) < 0) ::_exit(kExitChannelBroken);
    ::close(channel);
    for (int fd : zygote_fds) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (absl::Status status = Start(); !status.ok()) {
      SendError(kChildChannelFd, status);
      ::_exit(0);
    }
    // Without a doorbell (spinning off, or no memfd here) both sides simply block.
    int bell_fd = -1;
    Doorbell* bell =
        config_.spin_budget > absl::ZeroDuration() ? CreateDoorbell(&bell_fd) : nullptr;
    const uint32_t before = bell != nullptr ? bell->request.load(std::memory_order_acquire) : 0;
    if (!SendFrame(kChildChannelFd, FrameType::kWorkerReady, 0, 0, {}, kNoDeadline, bell_fd)
             .ok()) {
      ::_exit(kExitChannelBroken);
    }
    if (bell_fd >= 0) ::close(bell_fd);
    Serve(bell, before);
  }

 private:
  absl::Status Start() {
    if (config_.memory_limit > 0) {
      uint64_t limit = AddressSpaceBytes() + config_.memory_limit;
      rlimit address_space{limit, limit};
      if (::setrlimit(RLIMIT_AS, &address_space) != 0) {
        return ErrnoError(errno, "setrlimit(RLIMIT_AS) in a worker of", config_.function_name);
      }
      std::set_new_handler(&OnOutOfMemory);
    }
    CallOutput error(nullptr);
    fnhost_host_init_context context{
        .function_name = config_.function_name.c_str(),
        .init_config = reinterpret_cast<const uint8_t*>(config_.init_config.data()),
        .init_config_size = config_.init_config.size(),
        .logger = StderrLogger(&config_.function_name),
        .error = error.raw(),
    };
    if (table_.state_after_restore != nullptr) {
      int32_t code = table_.state_after_restore(state_, &context);
      if (code != FNHOST_STATUS_OK) {
        return error.ToStatus(code, config_.function_name, "state after restore");
      }
    }
    CallOutput instance_error(nullptr);
    int32_t code = table_.instance_create(state_, instance_error.raw(), &instance_);
    return instance_error.ToStatus(code, config_.function_name, "instance create");
  }

  // Serves calls; with `bell`, spins on it before each blocking read. `before`: the host's
  // counter as read before the ready frame left.
  [[noreturn]] void Serve(Doorbell* bell, uint32_t before) {
    std::string request;
    std::string response;
    // Bounded: an idle worker spins for one budget after its last response, then blocks.
    SpinPolicy spin(config_.spin_budget);
    BellWait wait{bell != nullptr ? &bell->request : nullptr, before, &spin};
    auto respond = [&](int32_t code, uint16_t flags, std::string_view payload) {
      // Read before the response leaves, so that the host's next ring cannot come before it.
      if (bell != nullptr) wait.before = bell->request.load(std::memory_order_acquire);
      SendOrExit(kChildChannelFd, FrameType::kResponse, code, flags, payload);
      if (bell != nullptr) bell->response.fetch_add(1, std::memory_order_release);
    };
    for (;;) {
      FrameHeader header;
      absl::Status received = RecvCallFrame(kChildChannelFd, config_.max_message_bytes,
                                            kNoDeadline, &header, &request,
                                            bell != nullptr ? &wait : nullptr);
      // EOF is the host letting the worker go; anything else is a broken channel.
      if (!received.ok()) ::_exit(absl::IsUnavailable(received) ? 0 : kExitChannelBroken);
      if (header.type != FrameType::kRequest) ::_exit(kExitChannelBroken);
      response.clear();
      CallOutput output(&response);
      hit_memory_limit = false;
      int32_t code = table_.invoke(instance_, reinterpret_cast<const uint8_t*>(request.data()),
                                   request.size(), output.raw());
      if (code == FNHOST_STATUS_OK && response.size() <= config_.max_message_bytes) {
        respond(0, 0, response);
      } else if (code == FNHOST_STATUS_OK) {
        std::string message =
            absl::StrCat("function '", config_.function_name, "': response of ", response.size(),
                         " bytes is above max_message_bytes ", config_.max_message_bytes);
        respond(FNHOST_STATUS_RESOURCE_EXHAUSTED, 0, message);
      } else if (hit_memory_limit) {
        std::string message =
            absl::StrCat("function '", config_.function_name, "': worker ", ::getpid(),
                         " reached its memory limit of ", config_.memory_limit,
                         " bytes (address space beyond the zygote's) during invoke: ",
                         output.error_message().empty() ? "(no message)" : output.error_message(),
                         "; the worker exits");
        respond(FNHOST_STATUS_RESOURCE_EXHAUSTED, kFlagWorkerExits, message);
        ::_exit(0);
      } else {
        absl::Status status = output.ToStatus(code, config_.function_name, "invoke");
        respond(static_cast<int32_t>(status.code()), 0, AsStd(status.message()));
      }
    }
  }

  const Config& config_;
  const fnhost_module_v1& table_;
  fnhost_module_state* const state_;
  fnhost_module_instance* instance_ = nullptr;
};

// ---- The zygote ----------------------------------------------------------------------------

class ZygoteServer {
 public:
  // Loads the module and builds its state; the error is what the host reports.
  absl::Status Init(const Config& config) {
    config_ = config;
    LoadOptions options;
    options.allow_writable = config_.allow_writable;
    options.sha256 = config_.sha256;
    absl::StatusOr<std::unique_ptr<LoadedModule>> module =
        LoadedModule::Load(config_.function_name, config_.module_path, options, *Clock::Real(),
                           &timings_);
    if (!module.ok()) return module.status();
    module_ = *std::move(module);
    const fnhost_module_v1& table = module_->table();

    CallOutput error(nullptr);
    fnhost_host_init_context context{
        .function_name = config_.function_name.c_str(),
        .init_config = reinterpret_cast<const uint8_t*>(config_.init_config.data()),
        .init_config_size = config_.init_config.size(),
        .logger = StderrLogger(&config_.function_name),
        .error = error.raw(),
    };
    absl::Time start = Clock::Real()->Now();
    if (!config_.snapshot_dir.empty() && module_->supports_snapshots()) {
      TryRestore(context, error);
    }
    if (state_ == nullptr) {
      start = Clock::Real()->Now();
      int32_t code = table.state_create(&context, &state_);
      if (code != FNHOST_STATUS_OK) {
        absl::Status status = error.ToStatus(code, config_.function_name, "state init");
        return absl::Status(status.code(), absl::StrCat(status.message(), " (module ",
                                                        config_.module_path, ")"));
      }
    }
    state_init_ = Clock::Real()->Now() - start;
    if (int threads = CountThreads(); threads > 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("function '", config_.function_name, "': module ", config_.module_path,
                       " left ", threads - 1,
                       " thread(s) running after state init; the process isolation mode "
                       "forks workers from it, which needs a single-threaded zygote"));
    }
    if (!snapshot_path_.empty() && snapshot_ == nullptr) {
      // Before the ready report, so that the host learns how it went; once per module build.
      absl::Status written =
          WriteStateSnapshot(table, state_, config_.function_name, FileSystem::Default(),
                             snapshot_path_, identity_, Clock::Real()->WallNow());
      Note(written.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed,
           AsStd(written.message()));
    }
    return absl::OkStatus();
  }

  std::string ReadyPayload() const {
    const fnhost_module_v1& table = module_->table();
    std::string payload;
    PutString(&payload, table.name);
    PutString(&payload, table.version);
    PutU64(&payload, table.max_concurrency_per_instance);
    for (absl::Duration phase :
         {timings_.file_checks, timings_.dlopen, timings_.abi_check, state_init_}) {
      PutU64(&payload, static_cast<uint64_t>(absl::ToInt64Nanoseconds(phase)));
    }
    PutU64(&payload, snapshot_ != nullptr ? 1 : 0);
    PutString(&payload, snapshot_path_);
    PutU64(&payload, snapshot_events_.size());
    for (const auto& [kind, detail] : snapshot_events_) {
      PutU64(&payload, static_cast<uint64_t>(kind));
      PutString(&payload, detail);
    }
    return payload;
  }

  // Serves the host until it closes the channel, then ends every worker.
  void Serve() {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, nullptr);
    signal_fd_ = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) return;
    pollfd fds[2] = {{kControlFd, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) ReapWorkers();
      if (fds[0].revents != 0 && !HandleControl()) host_gone_ = true;
      if (host_gone_) break;
    }
    Shutdown();
  }

 private:
  // A failed send means the host is gone: the loop then ends every worker before exiting.
  void ToHost(FrameType type, int32_t code, std::string_view payload, int pass_fd = -1) {
    if (host_gone_) return;
    host_gone_ = !SendFrame(kControlFd, type, code, 0, payload, kNoDeadline, pass_fd).ok();
  }
  void ErrorToHost(const absl::Status& status) {
    ToHost(FrameType::kError, static_cast<int32_t>(status.code()), AsStd(status.message()));
  }

  bool HandleControl() {
    FrameHeader header;
    std::string payload;
    if (!RecvFrame(kControlFd, kMaxControlBytes, kNoDeadline, &header, &payload).ok()) {
      return false;
    }
    uint64_t pid = 0;
    switch (header.type) {
      case FrameType::kSpawn:
        SpawnWorker();
        return true;
      case FrameType::kKill:
        if (!FieldReader(payload).U64(&pid)) return false;
        if (auto it = workers_.find(static_cast<pid_t>(pid)); it != workers_.end()) {
          // A worker not yet reaped: its pid (and group) cannot have been reused.
          it->second = true;
          ::kill(-it->first, SIGKILL);
        }
        return true;
      default:
        return false;
    }
  }

  void SpawnWorker() {
    int channel[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0) {
      ErrorToHost(ErrnoError(errno, "socketpair for a worker of", config_.function_name));
      return;
    }
    std::fflush(nullptr);  // or the child would write the zygote's buffered output again
    pid_t zygote = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      WorkerProcess(config_, module_->table(), state_)
          .Run(zygote, channel[1], {signal_fd_, channel[0]});
    }
    ::close(channel[1]);
    if (pid < 0) {
      ::close(channel[0]);
      ErrorToHost(ErrnoError(errno, "fork of a worker of", config_.function_name));
      return;
    }
    ::setpgid(pid, pid);  // also here, so that the group exists whichever runs first
    workers_[pid] = false;
    std::string payload;
    PutU64(&payload, static_cast<uint64_t>(pid));
    ToHost(FrameType::kSpawned, 0, payload, channel[0]);
    ::close(channel[0]);
  }

  // Reaps every child that has ended; reports workers to the host.
  void ReapWorkers() {
    signalfd_siginfo info;
    while (::read(signal_fd_, &info, sizeof(info)) > 0) {
    }
    for (;;) {
      siginfo_t child{};
      if (::waitid(P_ALL, 0, &child, WEXITED | WNOHANG | WNOWAIT) != 0 || child.si_pid == 0) {
        return;
      }
      pid_t pid = child.si_pid;
      auto it = workers_.find(pid);
      // Before the reap, while the group id is still held: whatever the worker forked dies too
      // (and lets go of the worker's socket, so the host sees EOF).
      if (it != workers_.end()) ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (it == workers_.end()) continue;  // an orphan that this subreaper inherited
      std::string payload;
      PutU64(&payload, static_cast<uint64_t>(pid));
      PutU64(&payload, static_cast<uint64_t>(status));
      PutU64(&payload, it->second ? 1 : 0);
      workers_.erase(it);
      ToHost(FrameType::kExited, 0, payload);
    }
  }

  void Shutdown() {
    for (const auto& [pid, killed] : workers_) ::kill(-pid, SIGKILL);
    for (;;) {
      for (pid_t child : Children()) ::kill(child, SIGKILL);
      if (::waitpid(-1, nullptr, 0) < 0 && errno != EINTR) break;
    }
  }

  // Restores the state from a matching snapshot into state_, as the in-process host does
  // (Version::TryRestore); on failure leaves state_ null for an init.
  void TryRestore(const fnhost_host_init_context& context, const CallOutput& error) {
    absl::StatusOr<snapshot::ModuleIdentity> identity =
        IdentityOf(*module_, config_.init_config);
    if (!identity.ok()) {
      Note(SnapshotEventKind::kRejected, AsStd(identity.status().message()));
      return;
    }
    identity_ = *std::move(identity);
    snapshot_path_ = SnapshotPath(config_.snapshot_dir, config_.function_name, identity_);
    absl::StatusOr<RestoredState> restored =
        RestoreState(module_->table(), context, snapshot_path_, identity_,
                     config_.trust_private_snapshot_dir);
    if (!restored.ok()) {
      if (absl::IsNotFound(restored.status())) return;
      std::string why(AsStd(restored.status().message()));
      if (!error.error_message().empty()) why += ": " + error.error_message();
      Note(SnapshotEventKind::kRejected, why);
      return;
    }
    snapshot_ = std::move(restored->snapshot);
    state_ = restored->state;
    Note(SnapshotEventKind::kRestored, "");
  }
  void Note(SnapshotEventKind kind, std::string_view detail) {
    snapshot_events_.emplace_back(kind, std::string(detail));
  }

  Config config_;
  LoadTimings timings_;
  absl::Duration state_init_;
  snapshot::ModuleIdentity identity_;  // with snapshot_path_
  std::string snapshot_path_;          // empty: snapshots off for this module
  std::unique_ptr<MappedSnapshot> snapshot_;  // the restored state's sections point here
  std::vector<std::pair<SnapshotEventKind, std::string>> snapshot_events_;
  std::unique_ptr<LoadedModule> module_;
  fnhost_module_state* state_ = nullptr;
  int signal_fd_ = -1;
  bool host_gone_ = false;
  absl::flat_hash_map<pid_t, bool> workers_;  // live workers -> killed on the host's request
};

int Main(int argc, char** argv) {
  pid_t host = 0;
  if (argc < 2 || !absl::SimpleAtoi(argv[1], &host)) {
    std::fprintf(stderr, "usage: fnhost-zygote <host pid> [function]; started by fnhost only\n");
    return 2;
  }
  // The check after the prctl catches a host that died before the signal was armed.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != host) return 1;
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  // Orphans of workers (what a module forked) come back here, to be killed and reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  FrameHeader header;
  std::string payload;
  if (!RecvFrame(kControlFd, kMaxConfigBytes, kNoDeadline, &header, &payload).ok()) return 1;
  Config config;
  if (header.type != FrameType::kConfig || !ParseConfig(payload, &config)) {
    SendError(kControlFd, absl::InvalidArgumentError("fnhost-zygote: malformed config frame"));
    return 1;
  }
  payload = std::string();

  ZygoteServer zygote;
  if (absl::Status status = zygote.Init(config); !status.ok()) {
    SendError(kControlFd, status);
    ::_exit(0);
  }
  SendOrExit(kControlFd, FrameType::kReady, 0, 0, zygote.ReadyPayload());
  zygote.Serve();
  // No unload, no destructors: module code must not run after the host let go.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace fnhost::internal

int main(int argc, char** argv) { return fnhost::internal::Main(argc, argv); }
