// CancelHook: one call's attachment to a CancellationToken (fnhost/cancellation.h). A call
// attaches while it is pending and detaches when it completes; Cancel unlinks every hook
// under the token's lock, then runs each hook's OnCancel without it, holding a reference the
// hook's owner counts (Ref/Unref), so that a call completing at the same time stays alive
// until its OnCancel has returned.
//
// Thread-safety: Attach and Detach are called by the hook's owner; OnCancel may run on any
// thread, at most once, concurrently with the owner.

#ifndef FNHOST_SRC_HOST_CANCEL_HOOK_H_
#define FNHOST_SRC_HOST_CANCEL_HOOK_H_

#include "fnhost/cancellation.h"

namespace fnhost::internal {

class CancelHook {
 public:
  // Attaches to `token`; false (and not attached) when the token is cancelled already.
  bool Attach(CancellationToken& token);
  // Detaches, if still attached. After it returns, no new OnCancel starts.
  void Detach();

 protected:
  CancelHook() = default;
  ~CancelHook() = default;

  virtual void OnCancel() = 0;
  virtual void Ref() = 0;
  virtual void Unref() = 0;

 private:
  friend class fnhost::CancellationToken;
  CancellationToken* token_ = nullptr;
  bool linked_ = false;  // guarded by token_->mu_
  CancelHook* prev_ = nullptr;
  CancelHook* next_ = nullptr;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_CANCEL_HOOK_H_
