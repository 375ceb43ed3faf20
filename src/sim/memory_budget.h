// MemoryBudget: a node's memory shared by every function of a trace, for `fnhost sim
// --memory-budget`. Every instance (busy or idle) holds its function's memory. An instance
// that does not fit evicts idle instances of other functions first, in one order across all of
// them: Greedy-Dual (src/policy/greedy_dual.h, the order a Host with a memory budget uses too),
// an idle instance's priority set when it goes idle. A call whose instance still does not fit
// (the memory is busy) runs all the same and is counted as over the budget, where a Host would
// make it wait (README, "Under a node's memory budget"); a prewarm that does not fit is
// skipped. Each function's keep-alive policy still evicts and prewarms as without a budget.
// Thread-safety: none; one thread replays a budget and its functions.

#ifndef FNHOST_SRC_SIM_MEMORY_BUDGET_H_
#define FNHOST_SRC_SIM_MEMORY_BUDGET_H_

#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "src/policy/greedy_dual.h"
#include "src/sim/simulator.h"
#include "src/sim/trace.h"

namespace fnhost::sim {

class FunctionReplay;

class MemoryBudget {
 public:
  explicit MemoryBudget(double capacity_mb) : capacity_mb_(capacity_mb) {}

  // The replays sharing the budget; a replay's index is its position.
  void Attach(std::vector<FunctionReplay*> replays);
  // Makes room for an instance of `mb` for replay `requester` at `now`, evicting other
  // functions' idle instances, lowest priority first. When no idle instance is left to evict:
  // with `may_exceed` the instance is counted over the budget and taken anyway (true), else
  // nothing is taken (false).
  bool Reserve(double mb, absl::Time now, int requester, bool may_exceed);
  // An instance of `mb` was destroyed.
  void Free(double mb) { used_mb_ -= mb; }
  // Replay `index`'s oldest idle instance changed (or it has none now).
  void Update(int index);
  double clock() const { return clock_.value(); }

  int64_t evictions() const { return evictions_; }
  int64_t over_budget() const { return over_budget_; }
  double peak_mb() const { return peak_mb_; }

 private:
  const double capacity_mb_;
  double used_mb_ = 0;
  double peak_mb_ = 0;
  GreedyDualClock clock_;
  int64_t evictions_ = 0;
  int64_t over_budget_ = 0;
  std::vector<FunctionReplay*> replays_;
  // (priority of the oldest idle instance, replay) for every replay with one.
  std::set<std::pair<double, int>> order_;
  std::vector<std::optional<double>> keys_;
};

// Replays `calls[f]` of every function f of `trace` (up to calls.size()) under `options`,
// interleaved in time order (ties by function), sharing `budget_mb` of memory; one result per
// function, and the budget's counts.
struct BudgetCounts {
  int64_t evictions = 0;
  int64_t over_budget = 0;
  double peak_mb = 0;
};
std::vector<FunctionResult> ReplayUnderBudget(const Trace& trace,
                                              const std::vector<std::vector<Call>>& calls,
                                              const KeepAliveOptions& options, double budget_mb,
                                              BudgetCounts* counts);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_MEMORY_BUDGET_H_
