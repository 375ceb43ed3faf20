// MemoryBudget and ReplayUnderBudget: see the header.

#include "src/sim/memory_budget.h"

#include <functional>
#include <memory>
#include <queue>
#include <tuple>

#include "src/sim/function_replay.h"

namespace fnhost::sim {

void MemoryBudget::Attach(std::vector<FunctionReplay*> replays) {
  replays_ = std::move(replays);
  keys_.assign(replays_.size(), std::nullopt);
  order_.clear();
  for (size_t i = 0; i < replays_.size(); ++i) Update(static_cast<int>(i));
}

void MemoryBudget::Update(int index) {
  double priority;
  const bool idle = replays_[index]->OldestIdlePriority(&priority);
  std::optional<double>& key = keys_[index];
  if (key.has_value() && (!idle || *key != priority)) {
    order_.erase({*key, index});
    key.reset();
  }
  if (idle && !key.has_value()) {
    order_.insert({priority, index});
    key = priority;
  }
}

bool MemoryBudget::Reserve(double mb, absl::Time now, int requester, bool may_exceed) {
  while (used_mb_ + mb > capacity_mb_) {
    // The lowest priority among the other functions' oldest idle instances.
    auto it = order_.begin();
    while (it != order_.end() && it->second == requester) ++it;
    if (it == order_.end()) {
      if (!may_exceed) return false;
      ++over_budget_;
      break;
    }
    const auto [priority, index] = *it;
    clock_.Evicted(priority, now);
    FunctionReplay& victim = *replays_[index];
    victim.EvictOldestForBudget(now);
    used_mb_ -= victim.memory_mb();
    ++evictions_;
    Update(index);
  }
  used_mb_ += mb;
  peak_mb_ = std::max(peak_mb_, used_mb_);
  return true;
}

std::vector<FunctionResult> ReplayUnderBudget(const Trace& trace,
                                              const std::vector<std::vector<Call>>& calls,
                                              const KeepAliveOptions& options, double budget_mb,
                                              BudgetCounts* counts) {
  MemoryBudget budget(budget_mb);
  std::vector<std::unique_ptr<FunctionReplay>> replays;
  std::vector<FunctionReplay*> pointers;
  for (size_t f = 0; f < calls.size(); ++f) {
    replays.push_back(std::make_unique<FunctionReplay>(calls[f], trace.functions[f].memory_mb,
                                                       options, trace.length, &budget,
                                                       static_cast<int>(f)));
    pointers.push_back(replays.back().get());
  }
  budget.Attach(pointers);
  // Every function's next event, earliest first (ties: the lower function index).
  using Next = std::pair<absl::Time, int>;
  std::priority_queue<Next, std::vector<Next>, std::greater<>> events;
  for (size_t f = 0; f < replays.size(); ++f) {
    const absl::Time next = replays[f]->NextEvent();
    if (next != absl::InfiniteFuture()) events.push({next, static_cast<int>(f)});
  }
  while (!events.empty()) {
    const auto [time, f] = events.top();
    events.pop();
    FunctionReplay& replay = *replays[f];
    replay.Step();
    const absl::Time next = replay.NextEvent();
    if (next != absl::InfiniteFuture()) events.push({next, f});
  }
  std::vector<FunctionResult> results;
  for (const auto& replay : replays) results.push_back(replay->Finish());
  *counts = BudgetCounts{budget.evictions(), budget.over_budget(), budget.peak_mb()};
  return results;
}

}  // namespace fnhost::sim
