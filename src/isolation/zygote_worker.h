// WorkerProcess: the code of a worker, forked from its zygote (see zygote_client.h). In order:
// it leaves the zygote behind (its own process group, the parent-death signal, only its own
// channel open), takes its state from the zygote's ZygoteState (the built state after its
// post-fork hook, a restore from the inherited snapshot mapping, or an init), applies its limits
// (worker_limits.h), creates one instance and its doorbell, applies its sandbox if it has one
// (zygote_sandbox.h), and reports ready; then it serves one call at a time on its socket until
// the host closes it, each with the context its request frame carries (WorkerCall), and, for a
// reload that keeps state, writes its state's sections when asked. Also how the zygote's
// processes send frames to the host.
//
// Not thread-safe: a worker's own code runs on one thread (the module may start others).

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_WORKER_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_WORKER_H_

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fnhost/abi.h"
#include "fnhost/zygote.pb.h"
#include "google/protobuf/message_lite.h"
#include "src/isolation/worker_call.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_sandbox.h"
#include "src/isolation/zygote_state.h"

namespace fnhost::internal {

// Send a frame to the host from a worker, or from the zygote before it has workers: a host
// that is gone ends this process.
void SendOrExit(int fd, FrameType type, int32_t code, uint16_t flags, std::string_view payload,
                int pass_fd = -1);
void SendControlOrExit(int fd, FrameType type, const google::protobuf::MessageLite& message,
                       int pass_fd = -1);
void SendErrorOrExit(int fd, const absl::Status& status);

class WorkerProcess {
 public:
  // `sandbox`: this worker's share of its sandbox; null: none.
  WorkerProcess(const zygote::WorkerLimits& limits, const ZygoteState& zygote_state,
                ZygoteSandbox::ForWorker* sandbox)
      : limits_(limits),
        zygote_state_(zygote_state),
        sandbox_(sandbox),
        memory_limit_bytes_(limits.memory_limit_bytes()) {}

  // Runs in the child right after fork; never returns.
  // `zygote_fds` are the zygote's own descriptors, closed here.
  [[noreturn]] void Run(pid_t zygote, int channel, std::initializer_list<int> zygote_fds);

 private:
  // Gets the state and applies the limits.
  absl::Status Start();
  // Creates the module's instance (under the sandbox, when there is one).
  absl::Status CreateTheInstance();
  // Applies the sandbox, if any; `in_force` says what is, for the ready frame.
  absl::Status ApplySandbox(ZygoteSandbox::ForWorker::InForce* in_force);
  // Serves calls; with `bell`, spins on it before each blocking read. `before`: the host's
  // counter as read before the ready frame left.
  [[noreturn]] void Serve(Doorbell* bell, uint32_t before);
  // Runs one call; the response frame's status code, flags and payload.
  struct Answer {
    int32_t code = 0;
    uint16_t flags = 0;
    std::string_view payload;
  };
  Answer Call(std::string_view request, const WorkerCall& call, std::string* response,
              std::string* message);
  // A reload that keeps state: sends the host this worker's state's sections (kStateSnapshot
  // with a sealed memfd), or the error.
  void AnswerSnapshotRequest();

  const std::string& function() const { return zygote_state_.function(); }

  const zygote::WorkerLimits& limits_;
  const ZygoteState& zygote_state_;
  fnhost_module_state* state_ = nullptr;
  ZygoteSandbox::ForWorker* const sandbox_;
  uint64_t memory_limit_bytes_;  // RLIMIT_AS beyond the start, which HitMemoryLimit reports
  fnhost_module_instance* instance_ = nullptr;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_WORKER_H_
