// ZygoteSandbox: a fnhost-zygote's part in its workers' sandbox (src/sandbox/sandbox.h has the
// whole sequence). Once, after the state is built: the sandbox prepared (the Landlock rules
// with their paths opened, the seccomp program compiled), the private network entered for
// every worker (when the workers fork after the init: a worker that builds or restores its own
// state may need the network for it, and makes its namespace after), and the function's
// cgroups made. Per worker, before the fork: its denial page (ForWorker); the worker applies
// the sandbox to itself (ForWorker::Apply) once its doorbell exists, before it makes its
// instance; after its reap, what the cgroups saw goes into its exit report.
//
// Cgroups ahead: moving a process into a cgroup waits for an RCU grace period unless one
// passed recently, 8 to 16 ms on a VM, while fork places a child in its parent's cgroups for
// free. So the zygote makes the next worker's cgroups ahead and waits in them itself: the
// worker is born there, and the zygote moves on to the following worker's cgroups after it has
// answered the spawn (AfterSpawn), off the spawn's path. The zygote counts as one of that
// worker's processes until the fork; a few pages it touches meanwhile are charged to it.
//
// Not thread-safe: a zygote has one thread.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_SANDBOX_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_SANDBOX_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/zygote.pb.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/sandbox.h"

namespace fnhost::internal {

class ZygoteSandbox {
 public:
  // `enter_network`: the zygote itself enters the private network, for every worker it forks.
  // Errors name the function and the layer.
  static absl::StatusOr<std::unique_ptr<ZygoteSandbox>> Create(const zygote::SandboxConfig& config,
                                                               const std::string& function,
                                                               const std::string& module_path,
                                                               bool enter_network);

  // A worker's report as the zygote predicts it (PreparedSandbox::PredictReport), serialized
  // once: a worker whose own report is the same sends these bytes.
  struct Prediction {
    sandbox::SandboxReport report;
    std::string payload;  // a serialized zygote::SandboxInForce
  };

  // What one worker gets, made before its fork.
  class ForWorker {
   public:
    // What Apply put in force, for the worker's ready frame and its own checks.
    struct InForce {
      const std::string* predicted = nullptr;  // the zygote's payload, where the report matched
      std::string built;                       // else the worker's own
      uint64_t address_space_limit_bytes = 0;  // RLIMIT_AS holds the memory limit: the limit

      // A serialized zygote::SandboxInForce.
      std::string_view payload() const { return predicted != nullptr ? *predicted : built; }
    };

    ForWorker(ForWorker&&) = default;
    ForWorker& operator=(ForWorker&&) = default;

    // The denial page's memfd, for the host.
    int denials_fd() const { return denials_->fd(); }
    // The worker closes every descriptor from this one up first (0: none); see held_files.h.
    int descriptor_floor() const { return descriptor_floor_; }
    // In the worker: applies the sandbox to the process, then says what is in force. On error
    // the process is partly sandboxed and must not run module code.
    absl::Status Apply(InForce* in_force);

   private:
    friend class ZygoteSandbox;
    ForWorker() = default;
    sandbox::PreparedSandbox* prepared_ = nullptr;
    const Prediction* prediction_ = nullptr;
    uint64_t memory_limit_bytes_ = 0;
    int descriptor_floor_ = 0;
    std::optional<sandbox::CgroupTicket> cgroups_;
    std::unique_ptr<sandbox::SandboxDenials> denials_;
  };

  // Moves the zygote back to its own cgroups and removes the function's.
  ~ZygoteSandbox();

  // FAILED_PRECONDITION when the next worker's cgroups could not be made (the reason).
  absl::StatusOr<ForWorker> BeforeFork();
  // In the zygote, once the host has its answer to the spawn (`pid` < 0: the fork failed):
  // keeps the worker's cgroups for its reap and moves into the next worker's.
  void AfterSpawn(pid_t pid);
  // After the worker's reap: what its cgroups saw, into `exited`; removes them.
  void AfterReap(pid_t pid, zygote::Exited* exited);

 private:
  ZygoteSandbox() = default;
  // Makes the next worker's cgroups and moves the zygote into them.
  void PrepareNext();

  std::unique_ptr<sandbox::PreparedSandbox> prepared_;
  std::unique_ptr<sandbox::WorkerCgroups> cgroups_;  // null: no cgroup limits here
  uint64_t memory_limit_bytes_ = 0;
  // The next worker's cgroups, the zygote in them; or why there are none.
  absl::StatusOr<sandbox::CgroupTicket> next_ = absl::FailedPreconditionError("none yet");
  absl::flat_hash_map<pid_t, sandbox::CgroupTicket> tickets_;  // of live workers
  // Made at the first BeforeFork, from that worker's resources: every worker's are alike.
  std::optional<Prediction> prediction_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_SANDBOX_H_
