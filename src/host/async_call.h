// AsyncCall: one asynchronous call (Host::InvokeAsync) that could not run inline, from its
// admission to its completion. It waits in the pool's queue as a record (Pool::AsyncWaiter)
// rather than as a blocked thread; a cold start runs on the host's threads; an in-process call
// runs on the host's threads; an isolated call is started on its worker (StartInvoke) by
// whichever thread was granted the slot, and completed by the poller (CallCompletion).
// Cancellation (token or deadline) acts on the phase the call is in: a queued call is
// withdrawn, a starting one is stopped before it runs, a running isolated call is cancelled
// on its worker and completed at once, a running in-process call runs to its end. A running
// call's cancelled flag (its CallRecord's, and the worker's page) is set either way, for the
// module to see.
//
// Life: one reference for the call itself, dropped when it is over (completion posted, slot
// released), plus one for each of the timer, the cancellation token and the code path in
// flight that may still touch it. The completion itself is posted without any of them: it
// carries only the caller's callback, so it may run after the host is gone.
//
// Thread-safety: the steps run on whatever thread moves the call on; `mu_` orders the phase
// changes against cancellation.

#ifndef FNHOST_SRC_HOST_ASYNC_CALL_H_
#define FNHOST_SRC_HOST_ASYNC_CALL_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.h"
#include "src/host/cancel_hook.h"
#include "src/host/deadline_timer.h"
#include "src/host/pool.h"
#include "src/runtime/call_record.h"
#include "src/runtime/instance_backend.h"
#include "src/common/mutex.h"

namespace fnhost::internal {

class Function;

class AsyncCall final : public Pool::AsyncWaiter,
                        private CancelHook,
                        private DeadlineTimer::Target,
                        private CallCompletion {
 public:
  // Starts a call of `function` (see Host::InvokeAsync); `begin_ticks` is when it arrived.
  static void Start(std::shared_ptr<Function> function, std::string_view request,
                    std::string* response, InvokeCallback done, const CallOptions& options,
                    int64_t begin_ticks);

  void OnGranted() override;
  void Retain() override { Ref(); }

 private:
  enum class Phase { kAdmitting, kQueued, kStarting, kRunning, kDone };

  AsyncCall(std::shared_ptr<Function> function, std::string_view request,
            std::string* response, InvokeCallback done, const CallOptions& options,
            int64_t begin_ticks);
  ~AsyncCall() = default;

  void Begin();
  // The granted slot needs a new instance: creates it (on a host thread), then runs.
  void ColdStart();
  // Runs the call on its lease: starts it on its worker, or runs it in process (here when
  // `here`, else on a host thread). The call's record is made first, if it needs one.
  void Run(bool here);
  CallRecord* record() { return has_record_ ? &record_ : nullptr; }
  void RunInProcess();
  void OnCallDone(absl::Status status) override;
  // Gives up on the call, for `why` (a token's CANCELLED, a deadline's DEADLINE_EXCEEDED).
  void Stop(absl::Status why);
  void OnCancel() override;
  void OnDeadline() override;
  // Arms the timer for the next deadline that applies in the current phase, if any.
  void ArmTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases the lease, if the call holds one.
  void ReleaseLease();
  // Posts the completion, once; later calls do nothing.
  void Deliver(absl::Status status);
  // The call failed before it ran: reports it, completes it and ends it.
  void Fail(absl::Status status);
  // The end of the call's own life.
  void Finish();
  void Ref() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() override;

  std::shared_ptr<Function> function_;
  const std::string_view request_;
  std::string* const response_;
  InvokeCallback done_;
  Executor* const executor_;
  CancellationToken* const token_;
  const bool kill_on_cancel_;
  const absl::Time deadline_;
  const absl::Duration queue_timeout_;
  const int64_t begin_ticks_;
  CallContext* const context_;  // the caller's, until the completion is posted
  const std::string trigger_;   // its span's faas.trigger, kept past the completion
  const absl::Time span_start_;
  absl::Time queue_deadline_ = absl::InfiniteFuture();
  std::optional<ColdStartEvent> cold_;  // the cold start the call waited for, for its span
  CallRecord record_;  // made when the call runs, if it needs one (has_record_)
  bool has_record_ = false;

  std::atomic<int> refs_{1};
  std::atomic<bool> cancelled_{false};
  Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kAdmitting;
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;
  bool holds_lease_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status stop_status_ ABSL_GUARDED_BY(mu_);  // why it was stopped, if it was
  DeadlineTimer::Entry timer_;  // guarded by the timer's own lock
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_ASYNC_CALL_H_
