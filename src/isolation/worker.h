// Worker: the host's side of one worker process, forked from a zygote (zygote_client.h): one
// instance of the module, serving one call at a time over its own socket. A call is a request
// frame out (with the call's context, call_frames.h) and a response frame back (with the
// response metadata), raced against the invoke timeout; meanwhile the module's host-service
// calls and log lines arrive as frames of their own, answered here (worker_frames.h). A worker
// that dies, hangs, breaks its channel (or sends a malformed frame) or reaches its memory limit
// is lost for good, with a status that says how, and the caller spawns another.
//
// Thread-safety: thread-safe, but one call at a time (concurrent calls wait for each other).

#ifndef FNHOST_SRC_ISOLATION_WORKER_H_
#define FNHOST_SRC_ISOLATION_WORKER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"
#include "src/isolation/worker_loss.h"
#include "src/isolation/worker_protocol.h"
#include "src/runtime/call_record.h"
#include "src/runtime/instance_backend.h"

namespace fnhost {

class Zygote;
namespace internal {
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
  //   memory limit      RESOURCE_EXHAUSTED naming the limit, the worker exits
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

  bool alive() const { return !lost(); }
  pid_t pid() const { return pid_; }
  // How the worker was lost (WorkerLoss::kNone while it lives). Read it after the Invoke that
  // lost the worker returned.
  internal::WorkerLossReason loss() const;
  // loss().Label(): the signal ("SIGSEGV"), "exit", "timeout", "memory_limit", "channel",
  // "protocol" or "zygote"; empty while it lives.
  std::string lost_reason() const { return loss().Label(); }

 private:
  friend class Zygote;
  Worker(std::shared_ptr<internal::ZygoteShared> shared,
         std::shared_ptr<internal::ZygoteProcess> process, pid_t pid, int fd);

  absl::Time Deadline() const;
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
  // The call's result from its response frame: OK, or the module's error.
  absl::Status Finish(const internal::FrameHeader& header, std::string* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Ends a worker whose channel failed with `cause` and says what happened to it.
  absl::Status Lost(const absl::Status& cause, std::string_view during)
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
  std::string context_ ABSL_GUARDED_BY(mu_);  // the request's context block, reused
  std::string scratch_ ABSL_GUARDED_BY(mu_);  // host services' responses, reused
};

}  // namespace fnhost

#endif  // FNHOST_SRC_ISOLATION_WORKER_H_
