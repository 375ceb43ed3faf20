#include "src/host/deadline_timer.h"

#include <vector>

namespace fnhost::internal {

DeadlineTimer::~DeadlineTimer() {
  std::thread thread;
  std::multimap<absl::Time, Entry*> left;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
    left.swap(armed_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
  for (auto& [when, entry] : left) {
    entry->armed = false;
    entry->target->Unref();
  }
}

void DeadlineTimer::Arm(Target* target, absl::Time when, Entry* entry) {
  target->Ref();
  {
    MutexLock lock(mu_);
    entry->target = target;
    entry->at = armed_.emplace(when, entry);
    entry->armed = true;
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { Loop(); });
  }
  cv_.notify_all();
}

bool DeadlineTimer::Disarm(Entry* entry) {
  Target* target = nullptr;
  {
    MutexLock lock(mu_);
    if (!entry->armed) return false;
    target = entry->target;
    armed_.erase(entry->at);
    entry->armed = false;
  }
  target->Unref();
  return true;
}

void DeadlineTimer::Loop() {
  MutexLock lock(mu_);
  std::vector<Target*> due;
  while (!stopping_) {
    const absl::Time now = clock_->Now();
    while (!armed_.empty() && armed_.begin()->first <= now) {
      Entry* entry = armed_.begin()->second;
      entry->armed = false;
      due.push_back(entry->target);
      armed_.erase(armed_.begin());
    }
    if (due.empty()) {
      clock_->WaitUntil(cv_, lock.native(),
                        armed_.empty() ? absl::InfiniteFuture() : armed_.begin()->first);
      continue;
    }
    lock.Unlock();
    // The entries were marked disarmed under the lock: a Disarm racing with OnDeadline is a
    // no-op, and the reference taken by Arm keeps the target alive until Unref.
    for (Target* target : due) {
      target->OnDeadline();
      target->Unref();
    }
    due.clear();
    lock.Lock();
  }
}

}  // namespace fnhost::internal
