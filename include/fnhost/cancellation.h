// CancellationToken: lets a caller give up on calls it started (CallOptions::cancellation).
//
// Cancel() acts at once on every call the token is attached to, in the state the call is in:
//   queued (waiting for an instance)   leaves the queue; its completion gets CANCELLED
//   in a worker process (isolation)    with CallOptions::cancel_kills_worker the worker is
//                                      killed and replaced, else the worker finishes the call
//                                      and its result is dropped; either way the completion
//                                      gets CANCELLED at once
//   running in the host process        runs to its end (module code cannot be interrupted)
//                                      and completes with the module's own result; the module
//                                      can see the flag through its call context
// A call that starts with its token already cancelled fails with CANCELLED without running.
// A call's deadline (CallOptions::deadline) cancels it the same way, with DEADLINE_EXCEEDED.
//
// A token may serve many calls, one after another or at once (say, every call made for one
// client connection), and must outlive every call it is attached to. Cancel cannot be undone.
//
// Thread-safety: thread-safe; cancelled() is one atomic load.

#ifndef FNHOST_CANCELLATION_H_
#define FNHOST_CANCELLATION_H_

#include <atomic>
#include <mutex>

namespace fnhost {

namespace internal {
class CancelHook;
}  // namespace internal

class CancellationToken {
 public:
  CancellationToken() = default;
  ~CancellationToken() = default;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  // Cancels every call attached now, and every call attached from now on. Returns once each
  // attached call has been told (not once it has completed).
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  friend class internal::CancelHook;
  std::mutex mu_;
  std::atomic<bool> cancelled_{false};
  internal::CancelHook* hooks_ = nullptr;  // the calls attached now (an intrusive list)
};

}  // namespace fnhost

#endif  // FNHOST_CANCELLATION_H_
