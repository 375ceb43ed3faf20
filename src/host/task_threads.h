// TaskThreads: the host's own threads for asynchronous calls. They run what must not run on a
// caller's thread (queued and cold in-process calls, and calls whose caller forbade running
// inline) and, for callers that name no executor, the completions: they are the default
// Executor. The threads start with the first task, so a host that makes no asynchronous call
// has none.
//
// Thread-safety: Post may be called from any thread; the destructor runs the tasks left and
// joins the threads, and no Post may race with it.

#ifndef FNHOST_SRC_HOST_TASK_THREADS_H_
#define FNHOST_SRC_HOST_TASK_THREADS_H_

#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "fnhost/executor.h"
#include "src/common/mutex.h"

namespace fnhost::internal {

class TaskThreads final : public Executor {
 public:
  explicit TaskThreads(int threads) : size_(threads < 1 ? 1 : threads) {}
  ~TaskThreads() override;

  void Post(absl::AnyInvocable<void()> task) override;

 private:
  void Loop();

  const int size_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_TASK_THREADS_H_
