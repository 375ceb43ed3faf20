#include "src/host/async_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"
#include "src/host/function.h"

namespace fnhost::internal {

void AsyncCall::Start(std::shared_ptr<Function> function, std::string_view request,
                      std::string* response, InvokeCallback done, const CallOptions& options,
                      int64_t begin_ticks) {
  (new AsyncCall(std::move(function), request, response, std::move(done), options, begin_ticks))
      ->Begin();
}

AsyncCall::AsyncCall(std::shared_ptr<Function> function, std::string_view request,
                     std::string* response, InvokeCallback done, const CallOptions& options,
                     int64_t begin_ticks)
    : function_(std::move(function)),
      request_(request),
      response_(response),
      done_(std::move(done)),
      executor_(options.executor != nullptr ? options.executor : function_->host_.completions),
      token_(options.cancellation),
      kill_on_cancel_(options.cancel_kills_worker),
      deadline_(options.deadline),
      queue_timeout_(options.timeout == absl::InfiniteDuration()
                         ? function_->spec().pool.default_timeout
                         : options.timeout),
      begin_ticks_(begin_ticks),
      context_(options.context),
      trigger_(context_ != nullptr ? context_->trigger : "other"),
      span_start_(function_->wants_spans_ ? function_->host_.clock->WallNow()
                                          : absl::InfinitePast()) {}

void AsyncCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void AsyncCall::Begin() {
  Ref();  // this step's own: the call may end on another thread while it runs
  const absl::Time now = function_->host_.clock->Now();
  absl::Status context_ok =
      context_ != nullptr ? BeginCallContext(function_->name(), *context_) : absl::OkStatus();
  if (!context_ok.ok()) {
    Fail(std::move(context_ok));
  } else if (token_ != nullptr && !Attach(*token_)) {
    cancelled_.store(true, std::memory_order_release);
    Fail(absl::CancelledError(FunctionMessage(function_->name(), "the call was cancelled")));
  } else if (now >= deadline_) {
    cancelled_.store(true, std::memory_order_release);
    Fail(absl::DeadlineExceededError(
        FunctionMessage(function_->name(), "the call's deadline passed before it started")));
  } else {
    queue_deadline_ = now + queue_timeout_;
    {
      MutexLock lock(mu_);
      phase_ = Phase::kQueued;
    }
    Pool::Garbage garbage;
    const bool answered = function_->pool_.AcquireAsync(this, &garbage);
    {
      MutexLock lock(mu_);
      if (answered) phase_ = Phase::kStarting;  // dispatched below: only the call's deadline
      ArmTimer();
    }
    function_->Destroy(garbage);
    if (answered) {
      OnGranted();
    } else if (cancelled_.load(std::memory_order_acquire)) {
      // Cancelled while joining the queue, before Stop could withdraw it.
      absl::Status why;
      {
        MutexLock lock(mu_);
        why = stop_status_;
      }
      Stop(why);
    }
  }
  Unref();
}

void AsyncCall::ArmTimer() {
  if (phase_ == Phase::kDone || delivered_) return;
  absl::Time when = deadline_;
  if (phase_ == Phase::kQueued) when = std::min(when, queue_deadline_);
  if (when == absl::InfiniteFuture()) return;
  function_->host_.timer->Arm(this, when, &timer_);
}

void AsyncCall::OnGranted() {
  if (!status.ok()) {
    Fail(status);
    return;
  }
  if (start.needs_room) {
    // Its instance does not fit in the memory budget: evicting other functions' idle
    // instances is work for the host's threads, not the caller's. It stays queued meanwhile,
    // and the task keeps the reference the pool took for this grant (Retain).
    function_->host_.tasks->Post([this] {
      Pool::Garbage garbage;
      function_->pool_.MakeRoomFor(this, &garbage);
      function_->Destroy(garbage);
      Unref();
    });
    return;
  }
  if (start.version != nullptr) {
    {
      MutexLock lock(mu_);
      phase_ = Phase::kStarting;
    }
    Ref();
    function_->host_.tasks->Post([this] {
      ColdStart();
      Unref();
    });
    return;
  }
  {
    MutexLock lock(mu_);
    holds_lease_ = true;
  }
  Run(/*here=*/false);
}

void AsyncCall::ColdStart() {
  if (function_->wants_spans_) cold_.emplace();
  const absl::Status started =
      function_->StartInstance(start, &lease, /*prewarm=*/false, cold_ ? &*cold_ : nullptr);
  if (!started.ok()) {
    Fail(started);
    return;
  }
  {
    MutexLock lock(mu_);
    holds_lease_ = true;
  }
  Run(/*here=*/true);
}

void AsyncCall::Run(bool here) {
  MutexLock lock(mu_);
  if (cancelled_.load(std::memory_order_acquire)) {
    const absl::Status why = stop_status_;
    lock.Unlock();
    ReleaseLease();
    Fail(why);
    return;
  }
  const Version* version = lease.version;
  if (function_->NeedsRecord(*version, context_)) {
    // Before the phase changes: a Stop of a running call sets the record's flag.
    absl::Status begun = record_.Begin(function_->RecordSetup(*version, context_, deadline_));
    has_record_ = begun.ok();
  }
  phase_ = Phase::kRunning;
  if (version->invokes_async()) {
    // Under the lock, so that a Stop sees the call either not started or started on its
    // worker, never in between.
    absl::Status started =
        version->StartInvoke(lease.instance->handle, request_, response_, record(), this);
    lock.Unlock();
    if (!started.ok()) OnCallDone(std::move(started));
    return;
  }
  lock.Unlock();
  if (here) {
    RunInProcess();
    return;
  }
  Ref();
  function_->host_.tasks->Post([this] {
    RunInProcess();
    Unref();
  });
}

void AsyncCall::RunInProcess() {
  OnCallDone(lease.version->Invoke(lease.instance->handle, request_, response_, record()));
}

void AsyncCall::OnCallDone(absl::Status status) {
  {
    MutexLock lock(mu_);
    // A call stopped while it ran (in process, it ran to its end) fails for the host's reason,
    // with the module's own words.
    if (!stop_status_.ok() && !status.ok()) {
      status = absl::Status(stop_status_.code(), absl::StrCat(stop_status_.message(),
                                                              " (the module: ", status.message(),
                                                              ")"));
    }
  }
  function_->ReportCall(lease, begin_ticks_, status.code());
  if (has_record_) {
    function_->ReportSpans(record_, *lease.version, lease.cold && cold_ ? &*cold_ : nullptr,
                           span_start_, status, trigger_, begin_ticks_);
  }
  {
    MutexLock lock(mu_);
    phase_ = Phase::kDone;
  }
  ReleaseLease();
  Deliver(std::move(status));
  Finish();
}

void AsyncCall::OnCancel() {
  Stop(absl::CancelledError(FunctionMessage(function_->name(), "the call was cancelled")));
}

void AsyncCall::OnDeadline() {
  if (function_->host_.clock->Now() >= deadline_) {
    Stop(absl::DeadlineExceededError(
        FunctionMessage(function_->name(), "the call's deadline passed")));
    return;
  }
  // The queue's own deadline (CallOptions::timeout): a call still queued gives up.
  Pool::Garbage garbage;
  bool memory_blocked = false;
  const bool withdrawn = function_->pool_.Withdraw(this, &garbage, &memory_blocked);
  function_->Destroy(garbage);
  if (withdrawn) {
    Fail(function_->pool_.QueueDeadlineError(queue_timeout_, memory_blocked));
    return;
  }
  MutexLock lock(mu_);
  if (phase_ == Phase::kQueued) phase_ = Phase::kStarting;  // granted, not yet dispatched
  ArmTimer();  // the call's deadline, if it has one
}

void AsyncCall::Stop(absl::Status why) {
  MutexLock lock(mu_);
  if (stop_status_.ok()) stop_status_ = why;
  cancelled_.store(true, std::memory_order_release);
  for (bool withdrawing = true;;) {
    switch (phase_) {
      case Phase::kDone:
      case Phase::kStarting:  // Run sees the flag
        return;
      case Phase::kRunning: {
        const Version* version = lease.version;
        // The module sees the flag, in process and in its worker (the page's flag).
        if (has_record_) record_.Cancel();
        // In process the call runs to its end.
        if (!version->invokes_async()) return;
        version->CancelInvoke(lease.instance->handle, kill_on_cancel_);
        lock.Unlock();
        Deliver(std::move(why));  // the response is no longer touched; the slot is, until done
        return;
      }
      case Phase::kAdmitting:
      case Phase::kQueued: {
        if (!withdrawing) return;  // granted, not yet dispatched: Run sees the flag
        lock.Unlock();
        Pool::Garbage garbage;
        const bool withdrawn = function_->pool_.Withdraw(this, &garbage);
        function_->Destroy(garbage);
        if (withdrawn) {
          Fail(std::move(why));
          return;
        }
        withdrawing = false;
        lock.Lock();
        break;
      }
    }
  }
}

void AsyncCall::ReleaseLease() {
  {
    MutexLock lock(mu_);
    if (!holds_lease_) return;
    holds_lease_ = false;
  }
  Pool::Garbage garbage;
  function_->pool_.Release(lease, &garbage);
  function_->Destroy(garbage);
}

void AsyncCall::Deliver(absl::Status status) {
  {
    MutexLock lock(mu_);
    if (delivered_) return;
    delivered_ = true;
  }
  Detach();
  function_->host_.timer->Disarm(&timer_);
  // The task carries the caller's callback only, not the call: it may run after the host is
  // gone.
  executor_->Post([done = std::move(done_), status = std::move(status),
                   response = response_]() mutable { done(std::move(status), response); });
}

void AsyncCall::Fail(absl::Status status) {
  function_->ReportFailure(status, begin_ticks_);
  {
    MutexLock lock(mu_);
    phase_ = Phase::kDone;
  }
  Deliver(std::move(status));
  Finish();
}

void AsyncCall::Finish() { Unref(); }

}  // namespace fnhost::internal
