// fnhost-zygote: the helper process of the process isolation mode (see zygote_client.h).
//
// The host posix_spawns it with one socket, its control channel, as fd 3 and sends a kConfig
// frame. The zygote loads and checks the module with the same loader as the in-process host and
// prepares what its workers start from (ZygoteState: the built state, or a snapshot mapping
// when they fork before the init), then answers kReady or kError — or kThreadedInit, when the
// module's init left threads and this process can no longer fork: it exits, and the host
// starts a zygote that forks before the init. Then it serves kSpawn (fork a worker, send the
// host its socket) and kKill, reaps its workers and reports each exit status (kExited). When the
// host goes away (EOF on the channel, or the parent-death signal) it kills and reaps every worker
// and exits.
//
// A worker is a fork of the zygote (zygote_worker.h). Single-threaded for its whole life, so
// that fork is safe.

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/common/function_error.h"
#include "src/common/strings.h"
#include "src/common/unique_fd.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/control_frames.h"
#include "src/isolation/zygote_sandbox.h"
#include "src/isolation/zygote_state.h"
#include "src/isolation/zygote_worker.h"

namespace fnhost::internal {
namespace {

constexpr int kControlFd = kChildChannelFd;
const absl::Time kNoDeadline = absl::InfiniteFuture();

// This process's children, as /proc lists them (empty where the kernel does not).
std::vector<pid_t> Children() {
  std::vector<pid_t> children;
  std::ifstream in(absl::StrCat("/proc/self/task/", ::getpid(), "/children"));
  for (pid_t pid; in >> pid;) children.push_back(pid);
  return children;
}

class ZygoteServer {
 public:
  explicit ZygoteServer(zygote::ZygoteConfig config)
      : config_(std::move(config)), state_(config_) {}

  // What Init found.
  enum class Outcome { kReady, kThreaded };

  // Loads the module and prepares what workers start from; the error is what the host reports.
  // `handed`: the snapshot memfd that came with the config, if any.
  absl::StatusOr<Outcome> Init(UniqueFd handed) {
    if (absl::Status status = state_.Load(); !status.ok()) return status;
    // A reload that keeps state: what came with the config is the replaced version's state.
    if (config_.module().reload_schema() != 0 && handed.valid()) {
      state_.SetReloadSource(std::move(handed));
    }
    if (config_.fork_before_init()) {
      absl::Status status = state_.PrepareBeforeInit(std::move(handed));
      if (status.ok()) status = PrepareSandbox();
      if (!status.ok()) return status;
      return Outcome::kReady;
    }
    absl::StatusOr<bool> threaded = state_.BuildHere();
    if (!threaded.ok()) return threaded.status();
    if (*threaded) return Outcome::kThreaded;
    if (absl::Status status = PrepareSandbox(); !status.ok()) return status;
    ReleaseFreeHeap();
    return Outcome::kReady;
  }

  // An init frees its temporaries, but their pages stay in the heap (21 of 34 MiB after the
  // recommender's init in BM_WorkerSpawn/64), and every fork copied their page-table entries
  // and every worker's exit tore them down again. Returned to the kernel, they cost neither;
  // a worker that allocates there gets fresh zero pages instead of copies of the zygote's.
  static void ReleaseFreeHeap() { ::malloc_trim(0); }

  // Reports how Init went, passing the snapshot memfd along; then lets go of the descriptor
  // (the mapping stays). A host that is gone ends this process.
  void Report(FrameType type) {
    SendControlOrExit(kControlFd, type, state_.Report(), state_.snapshot_fd());
    state_.CloseSnapshotFd();
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
      // The host's request first: a spawn waits for its answer, a reap waits for nobody.
      if (fds[0].revents != 0 && !HandleControl()) host_gone_ = true;
      if (fds[1].revents != 0) ReapWorkers();
      if (host_gone_) break;
    }
    Shutdown();
  }

 private:
  // A failed send means the host is gone: the loop then ends every worker before exiting.
  void ToHost(FrameType type, const google::protobuf::MessageLite& message, int pass_fd = -1,
              int second_pass_fd = -1) {
    if (host_gone_) return;
    host_gone_ =
        !SendControl(kControlFd, type, message, kNoDeadline, pass_fd, second_pass_fd).ok();
  }
  void ErrorToHost(const absl::Status& status) { ToHost(FrameType::kError, ErrorOf(status)); }

  // --- The workers' sandbox (zygote_sandbox.h), once the state is built. ---
  absl::Status PrepareSandbox() {
    if (!config_.has_sandbox()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<ZygoteSandbox>> sandbox = ZygoteSandbox::Create(
        config_.sandbox(), state_.function(), config_.module().module_path(),
        /*enter_network=*/!config_.fork_before_init());
    if (!sandbox.ok()) return sandbox.status();
    sandbox_ = *std::move(sandbox);
    return absl::OkStatus();
  }

  bool HandleControl() {
    FrameHeader header;
    std::string payload;
    if (!RecvFrame(kControlFd, kMaxControlBytes, kNoDeadline, &header, &payload).ok()) {
      return false;
    }
    zygote::Kill kill;
    switch (header.type) {
      case FrameType::kSpawn:
        SpawnWorker();
        return true;
      case FrameType::kKill:
        if (!ParseControl(payload, &kill).ok()) return false;
        if (auto it = workers_.find(static_cast<pid_t>(kill.pid())); it != workers_.end()) {
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
    std::optional<ZygoteSandbox::ForWorker> sandboxed;
    if (sandbox_ != nullptr) {
      absl::StatusOr<ZygoteSandbox::ForWorker> made = sandbox_->BeforeFork();
      if (!made.ok()) return ErrorToHost(PrefixFunction(state_.function(), made.status()));
      sandboxed = *std::move(made);
    }
    int channel[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0) {
      ErrorToHost(ErrnoError(errno, "socketpair for a worker of", state_.function()));
      return;
    }
    std::fflush(nullptr);  // or the child would write the zygote's buffered output again
    pid_t zygote = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      WorkerProcess(config_.worker(), state_, sandboxed.has_value() ? &*sandboxed : nullptr)
          .Run(zygote, channel[1], {signal_fd_, channel[0]});
    }
    ::close(channel[1]);
    if (pid < 0) {
      ::close(channel[0]);
      ErrorToHost(ErrnoError(errno, "fork of a worker of", state_.function()));
      return;
    }
    ::setpgid(pid, pid);  // also here, so that the group exists whichever runs first
    workers_[pid] = false;
    zygote::Spawned spawned;
    spawned.set_pid(pid);
    ToHost(FrameType::kSpawned, spawned, channel[0],
           sandboxed.has_value() ? sandboxed->denials_fd() : -1);
    ::close(channel[0]);
    if (sandbox_ != nullptr) sandbox_->AfterSpawn(pid);  // after the answer: it may take ms
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
      zygote::Exited exited;
      exited.set_pid(pid);
      exited.set_wait_status(status);
      exited.set_killed_on_request(it->second);
      if (sandbox_ != nullptr) sandbox_->AfterReap(pid, &exited);
      workers_.erase(it);
      ToHost(FrameType::kExited, exited);
    }
  }

  void Shutdown() {
    for (const auto& [pid, killed] : workers_) ::kill(-pid, SIGKILL);
    for (;;) {
      for (pid_t child : Children()) ::kill(child, SIGKILL);
      if (::waitpid(-1, nullptr, 0) < 0 && errno != EINTR) break;
    }
    sandbox_.reset();  // every worker is gone: their cgroups can go
  }

  const zygote::ZygoteConfig config_;
  ZygoteState state_;
  std::unique_ptr<ZygoteSandbox> sandbox_;  // null: the workers have no sandbox
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
  int handed_fd = -1;
  if (!RecvFrame(kControlFd, kMaxConfigBytes, kNoDeadline, &header, &payload, &handed_fd).ok()) {
    return 1;
  }
  UniqueFd handed(handed_fd);
  zygote::ZygoteConfig config;
  if (header.type != FrameType::kConfig || !config.ParseFromString(payload)) {
    SendErrorOrExit(kControlFd,
                    absl::InvalidArgumentError("fnhost-zygote: malformed config frame"));
    return 1;
  }
  payload = std::string();

  ZygoteServer zygote(std::move(config));
  absl::StatusOr<ZygoteServer::Outcome> outcome = zygote.Init(std::move(handed));
  if (!outcome.ok() || *outcome == ZygoteServer::Outcome::kThreaded) {
    // Threads left by the init: this process must not fork. Its report (with the snapshot it
    // wrote for its successor) tells the host to start a zygote that forks before the init.
    if (outcome.ok()) zygote.Report(FrameType::kThreadedInit);
    if (!outcome.ok()) SendErrorOrExit(kControlFd, outcome.status());
    std::fflush(nullptr);
    ::_exit(0);
  }
  zygote.Report(FrameType::kReady);
  zygote.Serve();  // ends its workers and their sandbox
  // No unload, no destructors: module code must not run after the host let go.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace fnhost::internal

int main(int argc, char** argv) { return fnhost::internal::Main(argc, argv); }
