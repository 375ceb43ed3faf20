// Executor: where fnhost runs the completions of asynchronous calls (Host::InvokeAsync).
//
// An event-loop server hands fnhost an executor that posts to its own loop (an Asio
// io_context, a libevent base, a gRPC completion queue), so that every completion runs on the
// loop's thread, as its own handlers do. Without one, completions run on the host's own
// threads. examples/asio_server shows one over asio::post.
//
// Thread-safety: Post is called from any thread (the host's threads, its poller, a thread
// that releases an instance), concurrently; an implementation must allow that. It must not
// run `task` inside Post when Post may be called with fnhost's locks held: fnhost never does
// (it posts after releasing them), so running the task inline is allowed too, as long as the
// task itself does not block.

#ifndef FNHOST_EXECUTOR_H_
#define FNHOST_EXECUTOR_H_

#include "absl/functional/any_invocable.h"

namespace fnhost {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` once, soon, on a thread of the executor's choosing.
  virtual void Post(absl::AnyInvocable<void()> task) = 0;
};

}  // namespace fnhost

#endif  // FNHOST_EXECUTOR_H_
