// Worker: the host's side of one worker process, forked from a zygote (zygote_client.h): one
// instance of the module, serving one call at a time over its own socket. A call is a request
// frame out (with the call's context, call_frames.h) and a response frame back (with the
// response metadata), raced against the invoke timeout; meanwhile the module's host-service
// calls and log lines arrive as frames of their own, answered here (worker_frames.h). A worker
// that dies, hangs, breaks its channel (or sends a malformed frame) or reaches its memory limit
// is lost for good, with a status that says how, and the caller spawns another.
//
// A call may also be split across threads (CallPoller, call_poller.h): StartCall sends it, and
// the poller reads the response as it arrives (ContinueCall) or ends the call (TimeOutCall,
// KillCall); the worker keeps the call's state meanwhile.
//
// Thread-safety: thread-safe, but one call at a time (concurrent calls wait for each other).

#ifndef FNHOST_SRC_ISOLATION_WORKER_H_
#define FNHOST_SRC_ISOLATION_WORKER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"
#include "src/isolation/cpu_budget.h"
#include "src/isolation/worker_loss.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/worker_sandbox.h"
#include "src/runtime/call_record.h"
#include "src/runtime/instance_backend.h"

namespace fnhost {

class Zygote;
namespace internal {
class CallPoller;
class ZygoteProcess;
class ZygoteShared;
}  // namespace internal

class Worker final : public internal::BackendInstance {
 public:
  // Closes the worker's socket; the worker exits and its zygote reaps it.
  ~Worker();

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs one call in the worker. A module's error comes back as the in-process host returns it.
  // When the worker is lost the call fails, the worker is dead for good (alive() is false) and
  // the caller should spawn another:
  //   crash             UNAVAILABLE "function 'f': worker 1234 killed by signal SIGSEGV
  //                     (Segmentation fault) during invoke" (or "exited with status N")
  //   timeout           DEADLINE_EXCEEDED, the worker killed
  //   CPU time limit    DEADLINE_EXCEEDED, SandboxLimitReason "cpu_time", the worker killed
  //   memory limit      RESOURCE_EXHAUSTED naming the limit, SandboxLimitReason "memory"; the
  //                     worker exits (RLIMIT_AS) or its memory cgroup killed it
  //   broken channel    UNAVAILABLE "... closed its channel" / "... broke the channel protocol"
  //   zygote died       UNAVAILABLE "... lost during invoke: zygote 1200 killed by signal ..."
  // A call on a dead worker fails with FAILED_PRECONDITION; a request above max_message_bytes
  // with INVALID_ARGUMENT (the worker stays alive).
  // `record`: the call's context (its id, metadata, deadline, trace context; where response
  // metadata goes, its services; its cancelled flag, which the worker's page mirrors while the
  // call runs); null: a call without one.
  absl::Status Invoke(std::string_view request, std::string* response,
                      internal::CallRecord* record = nullptr);

  // A reload that keeps state: has the worker write its state's sections to a sealed memfd,
  // and returns it (the caller owns it). Between calls; the module's error, or the worker's
  // loss, as for a call.
  absl::StatusOr<int> SnapshotState();

  // The caller of a call started by a CallPoller gave up on it: from now on its response goes
  // to a scratch string, never to the caller's.
  void DropResponse();

  bool alive() const { return !lost(); }
  pid_t pid() const { return pid_; }
  // How the worker was lost (WorkerLoss::kNone while it lives). Read it after the Invoke that
  // lost the worker returned.
  internal::WorkerLossReason loss() const;
  // loss().Label(): the signal ("SIGSEGV"), "exit", "timeout", "memory_limit", "channel",
  // "protocol", "zygote" or "cpu_time"; empty while it lives.
  std::string lost_reason() const { return loss().Label(); }

  // --- Sandbox (sandbox_options.h) ---
  // What the worker has in force, as it reported when it started; null without a sandbox.
  const zygote::SandboxInForce* sandbox_in_force() const { return sandbox_.in_force(); }
  // Whether the host checks each call's CPU time (cpu_time_limit set and the clock readable).
  bool cpu_limited() const { return cpu_limited_; }
  // Denied system calls since the last time this was called (see WorkerSandboxView).
  std::vector<sandbox::DenialCount> TakeNewDenials();

 private:
  friend class Zygote;
  friend class internal::CallPoller;

  // ---- A call split across threads (worker_async.cc), for the CallPoller.
  // Sends the request, with the context of `record` (null: none) as Invoke does; the response
  // goes to `response` as the poller reads it. An error: the call did not start (the worker
  // may be lost, as by Invoke). With a CPU budget, the call's CPU time counts from here.
  absl::Status StartCall(std::string_view request, std::string* response,
                         internal::CallRecord* record);
  // Reads what arrived of the response without blocking: nullopt while it is incomplete, else
  // the call's result (as Invoke's). A frame other than the response is handed to
  // HandleCallFrame first.
  std::optional<absl::Status> ContinueCall();
  // A frame the worker sent during a call that is not its response: the module's host call
  // or log line, answered here with the services of `record` (null: the function's) before
  // `deadline` (worker_frames.h); anything else breaks the protocol.
  absl::Status HandleCallFrame(const internal::FrameHeader& header, std::string_view payload,
                               const internal::CallRecord* record, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The response metadata at the end of a response with kFlagContext, taken off `response`
  // into `record`; DATA_LOSS when malformed, or when the call had no context.
  static absl::Status TakeMetadata(const internal::FrameHeader& header, std::string* response,
                                   internal::CallRecord* record);
  // The call split across threads is over: its record lets go of the worker's cancelled flag.
  void EndPending() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The call's deadline (invoke_timeout) passed: the worker is killed, as by Invoke.
  absl::Status TimeOutCall();
  // Reads the call's CPU time (sandbox cpu_time_limit). Within the limit: OK, and
  // `*next_check` says when to read it again (infinite without a CPU budget). Past it: the
  // DEADLINE_EXCEEDED "cpu_time" status, for LoseCall; the worker lives until then (the poller
  // takes its socket out of the epoll set first).
  absl::Status CheckCallCpuTime(absl::Time* next_check);
  // Ends the call because the worker failed with `cause` (a timeout, its CPU time): the worker
  // is killed and the result is what Invoke returns for the same cause.
  absl::Status LoseCall(const absl::Status& cause);
  // Ends the call by killing the worker, for `why` (returned): a cancelled call
  // (kCancelled, not counted by the circuit breaker) or a failed watchdog (kWatchdog).
  absl::Status KillCall(absl::Status why, internal::WorkerLoss loss);
  // When the call in flight times out (real time); infinite without invoke_timeout.
  absl::Time call_deadline() const;
  // When the call's CPU time is next to be read; infinite without a CPU budget.
  absl::Time cpu_check_due() const;
  // The worker's socket (-1 once released), and its function's name, for the poller.
  int fd_for_poller() const;
  const std::string& function_name() const;

  // `denials_fd`: the memfd of the worker's denial counters (taken), or -1.
  Worker(std::shared_ptr<internal::ZygoteShared> shared,
         std::shared_ptr<internal::ZygoteProcess> process, pid_t pid, int fd, int denials_fd);

  absl::Time Deadline() const;
  // The start of either call path: FAILED_PRECONDITION when the worker is gone; else encodes
  // the context block of `record` (null: none) into context_, INVALID_ARGUMENT when it and
  // `request` together are above max_message_bytes (the worker stays alive).
  absl::Status PrepareCall(std::string_view request, internal::CallRecord* record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the worker's first frame: ready (with its doorbell), or why its start failed.
  absl::Status AwaitReady();

  // A call's two halves, so that a caller may wait for the second elsewhere. SendRequest sends
  // the context block and the request and rings the doorbell; ReceiveResponse answers the
  // module's host calls and log lines (HandleWorkerFrame) until the response comes, and reads
  // it into `response` (its response metadata into `record`), its status code and flags into
  // `header`. Either fails with the channel's error (not the module's), which loses the worker.
  absl::Status SendRequest(std::string_view context, std::string_view request,
                           absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReceiveResponse(absl::Time deadline, internal::BellWait* wait,
                               internal::CallRecord* record, internal::FrameHeader* header,
                               std::string* response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With a CPU budget: waits until a frame is there to read, checking the call's CPU time
  // meanwhile; its DEADLINE_EXCEEDED "cpu_time" status once the call is past the limit.
  absl::Status AwaitWithinCpuBudget(absl::Time deadline, const internal::BellWait* wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The call's result from its response frame: OK, or the module's error.
  absl::Status Finish(const internal::FrameHeader& header, std::string* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Ends a worker whose channel failed with `cause` and says what happened to it.
  absl::Status Lost(const absl::Status& cause, std::string_view during)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status of a worker ended by a sandbox limit (loss_ kCpuTime or kMemoryLimit), with
  // the limit's SandboxLimitReason.
  absl::Status SandboxLimitError(const absl::Status& cause, std::string_view during) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lets go of a worker that is gone.
  void Release() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<internal::ZygoteShared> shared_;
  const std::shared_ptr<internal::ZygoteProcess> process_;
  const pid_t pid_;
  const uint32_t max_message_bytes_;
  mutable internal::Mutex mu_;  // one call at a time
  int fd_ ABSL_GUARDED_BY(mu_);  // -1 once released
  internal::WorkerLossReason loss_ ABSL_GUARDED_BY(mu_);
  internal::SpinPolicy spin_ ABSL_GUARDED_BY(mu_);  // the waits for responses
  internal::Doorbell* bell_ ABSL_GUARDED_BY(mu_) = nullptr;  // null: the worker sent none
  // A call split across threads.
  struct Pending {
    std::string* response = nullptr;  // the caller's, or `dropped` once it gave up
    std::string dropped;
    internal::CallRecord* record = nullptr;  // the call's context, if any
    bool drop_metadata = false;  // the caller gave up: its context takes no response metadata
    internal::FrameProgress progress;
    absl::Time deadline = absl::InfiniteFuture();
    absl::Time cpu_check = absl::InfiniteFuture();  // with a CPU budget
  };
  Pending pending_ ABSL_GUARDED_BY(mu_);
  std::string context_ ABSL_GUARDED_BY(mu_);  // the request's context block, reused
  std::string scratch_ ABSL_GUARDED_BY(mu_);  // host services' responses, reused
  // The start of the worker's next frame, read with the one before it (RecvCallFrame).
  std::string ahead_ ABSL_GUARDED_BY(mu_);
  // --- Sandbox ---
  // Filled by AwaitReady, before anyone else holds the worker; then read-only but for the
  // denial counts, which TakeNewDenials reads under mu_.
  internal::WorkerSandboxView sandbox_;
  int denials_fd_;  // until AwaitReady hands it to sandbox_
  std::optional<internal::CpuBudget> cpu_budget_ ABSL_GUARDED_BY(mu_);
  bool cpu_limited_ = false;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_ISOLATION_WORKER_H_
