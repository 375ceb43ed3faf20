#include "src/isolation/process_spawner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>

#include "src/common/file_system.h"
#include "src/isolation/worker_protocol.h"

extern char** environ;

namespace fnhost::internal {
namespace {

// The helper's environment: the host's, with glibc's malloc told to back its mappings with
// transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1, unless the host's own
// GLIBC_TUNABLES sets it). A fork copies one page-table entry per 2 MiB of the module's state
// instead of 512, and a worker's exit tears down as few: docs/worker-spawn-profile.md measured a
// worker forked from 64 MiB of state at under half the cost. Copy-on-write still copies 4 KiB.
std::vector<std::string> HelperEnvironment() {
  constexpr std::string_view kTunables = "GLIBC_TUNABLES=";
  constexpr std::string_view kHugePages = "glibc.malloc.hugetlb=1";
  std::vector<std::string> environment;
  bool tunables = false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string variable = *entry;
    if (variable.starts_with(kTunables)) {
      tunables = true;
      if (variable.find("glibc.malloc.hugetlb") == std::string::npos) {
        variable += variable.size() > kTunables.size() ? ":" : "";
        variable += kHugePages;
      }
    }
    environment.push_back(std::move(variable));
  }
  if (!tunables) environment.push_back(std::string(kTunables) + std::string(kHugePages));
  return environment;
}

absl::StatusOr<pid_t> Spawn(const std::string& executable, const std::vector<std::string>& args,
                            int channel_fd) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(executable.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto itself also clears close-on-exec (glibc >= 2.29, Austin Group issue 411).
  posix_spawn_file_actions_adddup2(&actions, channel_fd, kChildChannelFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kChildChannelFd + 1);
  // Module code must not read the server's input.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attr, &signals);
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&attr, &signals);

  std::vector<std::string> environment = HelperEnvironment();
  std::vector<char*> envp;
  for (std::string& variable : environment) envp.push_back(variable.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int error = ::posix_spawn(&pid, executable.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return ErrnoError(error, "cannot start", executable);
  return pid;
}

// The thread that runs every Spawn. Leaked on purpose: it must outlive every zygote.
class SpawnerThread {
 public:
  static SpawnerThread& Get() {
    static SpawnerThread* const kThread = new SpawnerThread();
    return *kThread;
  }

  absl::StatusOr<pid_t> Run(const std::string& executable, const std::vector<std::string>& args,
                            int channel_fd) {
    Job job{&executable, &args, channel_fd};
    std::unique_lock<std::mutex> lock(mu_);
    jobs_.push_back(&job);
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return job.done; });
    return job.result;
  }

 private:
  struct Job {
    const std::string* executable;
    const std::vector<std::string>* args;
    int channel_fd;
    absl::StatusOr<pid_t> result = -1;
    bool done = false;
  };

  SpawnerThread() {
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return !jobs_.empty(); });
      Job* job = jobs_.front();
      jobs_.pop_front();
      lock.unlock();
      absl::StatusOr<pid_t> result = Spawn(*job->executable, *job->args, job->channel_fd);
      lock.lock();
      job->result = std::move(result);
      job->done = true;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Job*> jobs_;
};

}  // namespace

absl::StatusOr<pid_t> SpawnHelper(const std::string& executable,
                                  const std::vector<std::string>& args, int channel_fd) {
  return SpawnerThread::Get().Run(executable, args, channel_fd);
}

}  // namespace fnhost::internal
