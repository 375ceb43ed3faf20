// Helpers for tests of asynchronous calls: completions collected by name, with bounded waits,
// and an executor that keeps what is posted until the test runs it.

#ifndef FNHOST_TESTS_SUPPORT_ASYNC_UTIL_H_
#define FNHOST_TESTS_SUPPORT_ASYNC_UTIL_H_

#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "fnhost/executor.h"
#include "fnhost/host.h"
#include "tests/support/test_util.h"

namespace fnhost::testing {

// The completions of calls, each under the name the test gave it.
class Completions {
 public:
  InvokeCallback Callback(const std::string& name) {
    return [this, name](absl::Status status, std::string*) {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[name];
      statuses_[name] = std::move(status);
    };
  }
  bool has(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_.count(name) > 0;
  }
  // How many times the completion of `name` ran (exactly once is right).
  int count(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_.count(name) > 0 ? counts_[name] : 0;
  }
  absl::Status status(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_.count(name) > 0 ? statuses_[name] : absl::UnknownError("no completion");
  }
  // Waits (bounded, see WaitUntil) for the completion of `name`.
  [[nodiscard]] bool Await(const std::string& name) {
    return WaitUntil([&] { return has(name); });
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> counts_;
  std::map<std::string, absl::Status> statuses_;
};

// Runs each task on the thread that posts it.
class InlineExecutor final : public Executor {
 public:
  void Post(absl::AnyInvocable<void()> task) override { task(); }
};

// Keeps posted tasks until RunAll.
class QueueExecutor final : public Executor {
 public:
  void Post(absl::AnyInvocable<void()> task) override {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }
  void RunAll() {
    std::deque<absl::AnyInvocable<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
  }

 private:
  std::mutex mu_;
  std::deque<absl::AnyInvocable<void()>> tasks_;
};

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_ASYNC_UTIL_H_
