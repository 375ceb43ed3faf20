// Greedy-Dual: the order in which idle instances leave a node's memory budget when an instance
// that does not fit needs room (FaaSCache, Fuerst and Sharma, ASPLOS 2021). One definition for
// the simulator (src/sim/memory_budget.h) and the Host (src/host/memory_budget.h), so that
// `fnhost sim --memory-budget` predicts what a host with HostOptions::memory_budget_mb does.
//
// An idle instance's priority is
//   clock + frequency x cost / size
// with frequency its function's calls so far, cost what one of its cold starts costs (1 for
// every function: the traces carry no initialisation times, and the host uses the same rule),
// size its memory in GB (at least 1 MB), and clock the priority of the last instance evicted,
// as it stood when the instance went idle. The lowest priority goes first: instances idle since
// long ago (the clock has risen since), of rarely called functions, or large ones.
//
// Thread-safety: none; the owner (a budget) serialises calls.

#ifndef FNHOST_SRC_POLICY_GREEDY_DUAL_H_
#define FNHOST_SRC_POLICY_GREEDY_DUAL_H_

#include <cstddef>
#include <deque>
#include <utility>

#include "absl/time/time.h"

namespace fnhost {

// What every cold start costs, as the simulator and the host count it.
inline constexpr double kUniformColdStartCost = 1;

double GreedyDualPriority(double clock, double frequency, double cost, double memory_mb);

// The clock: it rises to the priority of each instance evicted. With a `history`, it also
// remembers its value at up to that many past times (those at which it rose, one entry per
// distinct time), so that an owner that learns only when an instance went idle, not its
// priority then, can read the clock as it stood (At).
class GreedyDualClock {
 public:
  explicit GreedyDualClock(size_t history = 0) : history_(history) {}

  double value() const { return value_; }
  // An instance of priority `priority` was evicted at `now` (never before an earlier call's).
  void Evicted(double priority, absl::Time now);
  // The value at the start of `time`: after every eviction before it, none at or after it.
  // A time older than the history kept reads as the oldest value kept; without a history,
  // every time reads as the current value.
  double At(absl::Time time) const;

 private:
  const size_t history_;
  double value_ = 0;
  double before_history_ = 0;  // the value before the first entry kept
  // (time, value after the evictions at that time), oldest first.
  std::deque<std::pair<absl::Time, double>> history_entries_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_GREEDY_DUAL_H_
