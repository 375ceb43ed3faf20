#include "src/host/task_threads.h"

#include <utility>

namespace fnhost::internal {

TaskThreads::~TaskThreads() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& thread : threads) thread.join();
}

void TaskThreads::Post(absl::AnyInvocable<void()> task) {
  {
    MutexLock lock(mu_);
    tasks_.push_back(std::move(task));
    if (static_cast<int>(threads_.size()) < size_ && !stopping_) {
      threads_.emplace_back([this] { Loop(); });
    }
  }
  cv_.notify_one();
}

void TaskThreads::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    // Tasks posted before the stop still run: each is a call's completion or its next step.
    while (tasks_.empty() && !stopping_) cv_.wait(lock.native());
    if (tasks_.empty()) return;
    absl::AnyInvocable<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.Unlock();
    task();
    task = nullptr;  // destroyed without the lock: it may hold the last reference to a call
    lock.Lock();
  }
}

}  // namespace fnhost::internal
