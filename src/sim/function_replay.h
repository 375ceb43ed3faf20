// FunctionReplay: one function's calls replayed through KeepAliveController under one policy,
// one event at a time (see simulator.h for the model), so that the simulator can run a function
// on its own or interleave every function of a trace under one memory budget.
// Thread-safety: none; one thread drives a replay (and its budget).

#ifndef FNHOST_SRC_SIM_FUNCTION_REPLAY_H_
#define FNHOST_SRC_SIM_FUNCTION_REPLAY_H_

#include <functional>
#include <queue>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "fnhost/function_spec.h"
#include "src/policy/keep_alive_controller.h"
#include "src/sim/simulator.h"

namespace fnhost::sim {

class MemoryBudget;

class FunctionReplay {
 public:
  // Replays `calls` (by arrival) of a function whose instances take `memory_mb` each, from the
  // Unix epoch to `length` after it. With a `budget`, every instance is reserved in it, and
  // `index` is this replay's place among the budget's replays.
  FunctionReplay(absl::Span<const Call> calls, double memory_mb, const KeepAliveOptions& options,
                 absl::Duration length, MemoryBudget* budget = nullptr, int index = 0);

  // When the next event happens (an end of a call, before a decision, before an arrival, at
  // the same time); InfiniteFuture once every event up to the end of the trace is done.
  absl::Time NextEvent() const;
  // Processes the next event.
  void Step();
  // Replays every event, then Finish().
  FunctionResult Run();
  // Counts the memory of the instances still idle at the end of the trace; the result.
  FunctionResult Finish();

  double memory_mb() const { return memory_mb_; }
  // The budget priority of the oldest idle instance (Greedy-Dual, src/policy/greedy_dual.h: the
  // budget's clock when it went idle plus this function's calls so far per GB); false when
  // none is idle.
  bool OldestIdlePriority(double* priority) const;
  // The budget evicts the oldest idle instance at `now`.
  void EvictOldestForBudget(absl::Time now);

 private:
  // Idle instances by the time they became idle, oldest first: the controller evicts from the
  // front, a call takes the newest from the back. Each carries a tag for the breakdown.
  struct Idle {
    absl::Time since;
    int level = 1;  // the level it had when it became idle
    bool prewarmed = false;
    double priority = 0;  // for a memory budget
  };

  absl::Span<const absl::Time> IdleTimes() const {
    return {idle_since_.data() + head_, idle_since_.size() - head_};
  }
  size_t idle_count() const { return idle_since_.size() - head_; }
  void PushIdle(absl::Time since, int level, bool prewarmed);
  void PopNewest();
  void DropOldest(int count);
  // An idle instance leaves the idle list at `now`, used or not: its idle memory is counted.
  void Account(const Idle& instance, absl::Time now, bool used);
  void Decide(absl::Time now);
  void EndCall();
  void Arrive();

  const absl::Span<const Call> calls_;
  const double memory_mb_;
  const absl::Duration length_;
  const absl::Time start_ = absl::UnixEpoch();
  MemoryBudget* const budget_;
  const int index_;
  KeepAliveController controller_;
  FunctionResult result_;
  std::vector<absl::Time> idle_since_;  // parallel to idle_, from head_
  std::vector<Idle> idle_;
  size_t head_ = 0;
  std::priority_queue<absl::Time, std::vector<absl::Time>, std::greater<>> call_ends_;
  size_t next_call_ = 0;
  bool loaded_ = false;
  absl::Time next_decision_ = absl::InfiniteFuture();
};

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_FUNCTION_REPLAY_H_
