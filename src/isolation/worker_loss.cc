#include "src/isolation/worker_loss.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "fnhost/sandbox_options.h"
#include "src/isolation/worker_protocol.h"

namespace fnhost::internal {
namespace {

std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal_", signal);
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int signal = WTERMSIG(wait_status);
    const char* abbrev = ::sigabbrev_np(signal);
    const char* description = ::sigdescr_np(signal);
    return absl::StrCat("killed by signal ",
                        abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat(signal),
                        " (", description != nullptr ? description : "unknown signal", ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
}

std::string SandboxTrapHint(int wait_status) {
  if (!WIFSIGNALED(wait_status) || WTERMSIG(wait_status) != SIGSYS) return "";
  // The kernel kills with SIGSYS where a trap of the seccomp filter cannot reach the handler.
  return "; the sandbox trapped a call it could not hand to the worker's SIGSYS handler: a "
         "denied call under on_denial KILL, or a call in a thread that blocks SIGSYS (with "
         "count_refused_opens, every open traps)";
}

std::string WorkerLossReason::Label() const {
  switch (loss) {
    case WorkerLoss::kNone: return "";
    case WorkerLoss::kSignal: return SignalName(signal);
    case WorkerLoss::kExit: return "exit";
    case WorkerLoss::kTimeout: return "timeout";
    case WorkerLoss::kMemoryLimit: return "memory_limit";
    case WorkerLoss::kChannel: return "channel";
    case WorkerLoss::kProtocol: return "protocol";
    case WorkerLoss::kZygote: return "zygote";
    case WorkerLoss::kCancelled: return "cancelled";
    case WorkerLoss::kWatchdog: return "watchdog";
    case WorkerLoss::kCpuTime: return "cpu_time";
  }
  return "";
}

WorkerLossReason ClassifyLoss(const absl::Status& cause, const std::optional<WorkerExit>& exit) {
  if (absl::IsDeadlineExceeded(cause)) {
    return {SandboxLimitReason(cause) == "cpu_time" ? WorkerLoss::kCpuTime : WorkerLoss::kTimeout};
  }
  if (absl::IsDataLoss(cause)) return {WorkerLoss::kProtocol};
  if (!exit.has_value()) return {WorkerLoss::kZygote};
  if (exit->oom_killed) return {WorkerLoss::kMemoryLimit};
  const int status = exit->wait_status;
  if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && exit->killed_on_request) ||
      (WIFEXITED(status) && WEXITSTATUS(status) == kExitChannelBroken)) {
    return {WorkerLoss::kChannel};
  }
  if (!WIFSIGNALED(status)) return {WorkerLoss::kExit};
  return {WorkerLoss::kSignal, WTERMSIG(status)};
}

}  // namespace fnhost::internal
