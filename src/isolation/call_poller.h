// CallPoller: one thread that completes the calls in flight to worker processes, so that an
// isolated call holds no thread while its worker runs it. A call is sent by the thread that
// starts it (Start: the request goes out, the worker's socket joins the poller's epoll set);
// the poller reads the response as it arrives, without ever blocking on one worker, and runs
// the call's completion. It also ends calls: at their invoke_timeout (the worker is killed,
// DEADLINE_EXCEEDED, as a blocking call would), when the caller cancels with a kill
// (RequestKill), and when a call's watchdog fails.
//
// CPU time: a worker with a sandbox cpu_time_limit has its call's CPU time read as often as
// the worker says (Worker::CheckCallCpuTime), so that an asynchronous call past its limit ends
// as a blocking one does (DEADLINE_EXCEEDED "cpu_time", the worker killed, loss "cpu_time").
//
// Watchdog: a call may carry a check the poller runs every `interval` while the call is in
// flight; a check that fails ends the call with its status and kills the worker (loss
// "watchdog", counted by the circuit breaker).
//
// Thread-safety: Start, RequestKill and the destructor may be called from any thread. The
// completion runs on the poller's thread, without the poller's lock, after the poller is done
// with the worker: the completion may destroy it. A worker must not be destroyed while a call
// started on it is in flight.

#ifndef FNHOST_SRC_ISOLATION_CALL_POLLER_H_
#define FNHOST_SRC_ISOLATION_CALL_POLLER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/isolation/worker.h"
#include "src/runtime/instance_backend.h"
#include "src/common/mutex.h"

namespace fnhost::internal {

class CallPoller {
 public:
  struct Watchdog {
    absl::Duration interval = absl::InfiniteDuration();  // infinite: no watchdog
    std::function<absl::Status(const Worker& worker)> check;
  };
  // Told of each call that ended, before its completion runs (and of a call that could not
  // start): the backend's metrics (the sandbox's denials, a lost worker).
  using CallObserver = std::function<void(Worker& worker)>;

  CallPoller();
  // Stops the thread. Every call started must be over.
  ~CallPoller();
  CallPoller(const CallPoller&) = delete;
  CallPoller& operator=(const CallPoller&) = delete;

  // Sends `request` (with the context of `record`, if any) to `worker` and returns; `done` runs
  // with the result (on the poller's thread). An error: the call did not start, and `done`
  // never runs. `request` may go once Start returns; `response` must stay valid until `done`
  // runs or the worker's response is dropped (Worker::DropResponse); `record` until `done`
  // runs. The module's host calls and log lines are answered on the poller's thread.
  // `watchdog` and `on_end` must outlive the call.
  absl::Status Start(Worker* worker, std::string_view request, std::string* response,
                     CallRecord* record, CallCompletion* done, const Watchdog* watchdog,
                     const CallObserver* on_end);
  // Ends the call in flight on `worker` by killing it (its completion gets CANCELLED).
  void RequestKill(Worker* worker);

 private:
  // One call in flight, by its index in slots_; `generation` tells a slot's calls apart.
  struct Slot {
    Worker* worker = nullptr;  // null: free
    int fd = -1;               // the worker's socket (a duplicate when owns_fd), in the epoll set
    bool owns_fd = false;
    uint32_t generation = 0;
    CallCompletion* done = nullptr;
    const Watchdog* watchdog = nullptr;
    const CallObserver* on_end = nullptr;
    absl::Time deadline = absl::InfiniteFuture();  // invoke_timeout, real time
    absl::Time next_check = absl::InfiniteFuture();  // the watchdog's
    absl::Time cpu_check = absl::InfiniteFuture();   // the worker's CPU budget's
    bool kill = false;
  };
  // What the poller does to a call whose slot it took out.
  enum class Ending { kResponse, kTimeout, kKill, kWatchdog, kCpuTime };

  void Loop();
  // How long epoll may wait: until the earliest deadline, watchdog or CPU time check.
  int WaitMillis() ABSL_LOCKS_EXCLUDED(mu_);
  void OnReadable(uint64_t key);
  // Ends the calls whose deadline passed, whose kill was requested, whose watchdog failed or
  // whose CPU time ran out.
  void Sweep();
  // Runs the check of a call that `ending` (kWatchdog or kCpuTime) says is due, without the
  // lock; OK (with when it is next due) or why the call must end.
  absl::Status RunCheck(const Slot& slot, Ending ending, absl::Time now, absl::Time* next);
  // Takes the call of `index` out of the epoll set and the table; false when the slot holds
  // another call than `generation` by now.
  bool Take(uint32_t index, uint32_t generation, Slot* slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a call taken out as `ending` says, and runs its completion.
  void End(const Slot& slot, Ending ending, absl::Status why);
  void Wake();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_CALL_POLLER_H_
