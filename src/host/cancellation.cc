#include <vector>

#include "fnhost/cancellation.h"
#include "src/host/cancel_hook.h"

namespace fnhost {

void CancellationToken::Cancel() {
  internal::CancelHook* hooks = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
    hooks = hooks_;
    hooks_ = nullptr;
    for (internal::CancelHook* hook = hooks; hook != nullptr; hook = hook->next_) {
      hook->linked_ = false;
      hook->Ref();
    }
  }
  while (hooks != nullptr) {
    internal::CancelHook* next = hooks->next_;
    hooks->OnCancel();
    hooks->Unref();
    hooks = next;
  }
}

namespace internal {

bool CancelHook::Attach(CancellationToken& token) {
  std::lock_guard<std::mutex> lock(token.mu_);
  if (token.cancelled()) return false;
  token_ = &token;
  linked_ = true;
  prev_ = nullptr;
  next_ = token.hooks_;
  if (next_ != nullptr) next_->prev_ = this;
  token.hooks_ = this;
  return true;
}

void CancelHook::Detach() {
  if (token_ == nullptr) return;
  std::lock_guard<std::mutex> lock(token_->mu_);
  if (linked_) {
    if (prev_ != nullptr) prev_->next_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    if (token_->hooks_ == this) token_->hooks_ = next_;
    linked_ = false;
  }
  token_ = nullptr;
}

}  // namespace internal
}  // namespace fnhost
