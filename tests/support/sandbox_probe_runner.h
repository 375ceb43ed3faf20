// Runs fnhost_sandbox_probe (tests/support/sandbox_probe_main.cc) for the sandbox tests: its
// output (stdout and stderr), how it ended, and the CPU time it used, read from its process CPU clock before the
// reap. The wait is bounded; a probe that outlives it is killed and the test fails.

#ifndef FNHOST_TESTS_SUPPORT_SANDBOX_PROBE_RUNNER_H_
#define FNHOST_TESTS_SUPPORT_SANDBOX_PROBE_RUNNER_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/sandbox/cpu_clock.h"

extern char** environ;

namespace fnhost::testing {

struct ProbeRun {
  std::string output;
  int wait_status = 0;
  absl::Duration cpu_time;  // of the probe process, all its threads

  bool Has(std::string_view text) const { return output.find(text) != std::string::npos; }
  bool Exited() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
  int Signal() const { return WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0; }
};

// The fd number that inherit_fds[i] gets in the probe.
inline int ProbeFd(size_t i) { return 10 + static_cast<int>(i); }

// Runs the probe with `args`; `inherit_fds[i]` is passed as ProbeFd(i).
inline ProbeRun RunProbe(const std::vector<std::string>& args,
                         const std::vector<int>& inherit_fds = {}) {
  ProbeRun run;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  for (size_t i = 0; i < inherit_fds.size(); ++i) {
    posix_spawn_file_actions_adddup2(&actions, inherit_fds[i], ProbeFd(i));
  }
  std::vector<std::string> all = {FNHOST_SANDBOX_PROBE_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (error != 0) {
    ::close(out[0]);
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(error);
    return run;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (;;) {
    pollfd readable{out[0], POLLIN, 0};
    int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (timeout_ms <= 0 || ::poll(&readable, 1, timeout_ms) == 0) {
      ADD_FAILURE() << "the probe did not finish within 60 s; output so far:\n" << run.output;
      ::kill(pid, SIGKILL);
      break;
    }
    char buffer[4096];
    ssize_t n = ::read(out[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.output.append(buffer, static_cast<size_t>(n));
  }
  ::close(out[0]);
  // Ended but not reaped: its CPU clock still reads.
  siginfo_t info{};
  ::waitid(P_PID, pid, &info, WEXITED | WNOWAIT);
  absl::StatusOr<sandbox::ProcessCpuClock> clock = sandbox::ProcessCpuClock::ForProcess(pid);
  absl::StatusOr<absl::Duration> cpu = clock.ok() ? clock->Now() : clock.status();
  run.cpu_time = cpu.ok() ? *cpu : absl::ZeroDuration();
  while (::waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
  }
  return run;
}

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_SANDBOX_PROBE_RUNNER_H_
