// FunctionReplay: see the header, and simulator.h for the model.

#include "src/sim/function_replay.h"

#include <algorithm>
#include <limits>

#include "src/policy/greedy_dual.h"
#include "src/policy/keep_alive_policy.h"
#include "src/sim/memory_budget.h"

namespace fnhost::sim {
namespace {

// The policy knows what an instance of this function holds, as a host does from
// KeepAliveOptions::instance_memory_mb.
std::unique_ptr<KeepAlivePolicy> PolicyFor(const KeepAliveOptions& options, double memory_mb) {
  KeepAliveOptions policy_options = options;
  policy_options.instance_memory_mb = memory_mb;
  return MakeKeepAlivePolicy(policy_options, absl::UTCTimeZone());
}

}  // namespace

FunctionReplay::FunctionReplay(absl::Span<const Call> calls, double memory_mb,
                               const KeepAliveOptions& options, absl::Duration length,
                               MemoryBudget* budget, int index)
    : calls_(calls),
      memory_mb_(memory_mb),
      length_(length),
      budget_(budget),
      index_(index),
      controller_(PolicyFor(options, memory_mb)) {
  Decide(start_);  // as the host does after Register: scheduled instances, the warmer's clock
}

absl::Time FunctionReplay::NextEvent() const {
  const absl::Time end = start_ + length_;
  absl::Time next = std::min(call_ends_.empty() ? absl::InfiniteFuture() : call_ends_.top(),
                             next_decision_);
  if (next > end) next = absl::InfiniteFuture();  // nothing after the end of the trace ...
  if (next_call_ < calls_.size()) {               // ... but every call is replayed
    next = std::min(next, start_ + calls_[next_call_].arrival);
  }
  return next;
}

void FunctionReplay::Step() {
  const absl::Time call_end = call_ends_.empty() ? absl::InfiniteFuture() : call_ends_.top();
  const absl::Time arrival = next_call_ < calls_.size() ? start_ + calls_[next_call_].arrival
                                                        : absl::InfiniteFuture();
  const absl::Time end = start_ + length_;
  if (call_end <= next_decision_ && call_end <= arrival && call_end <= end) {
    EndCall();
  } else if (next_decision_ <= arrival && next_decision_ <= end) {
    Decide(next_decision_);
  } else {
    Arrive();
  }
  if (budget_ != nullptr) budget_->Update(index_);
}

FunctionResult FunctionReplay::Run() {
  while (NextEvent() != absl::InfiniteFuture()) Step();
  return Finish();
}

FunctionResult FunctionReplay::Finish() {
  const absl::Time end = start_ + length_;
  for (size_t i = head_; i < idle_.size(); ++i) {
    if (idle_[i].since < end) Account(idle_[i], end, false);
  }
  head_ = idle_.size();
  result_.wasted_memory_gb_s = 0;
  for (double gb_s : result_.breakdown.wasted_memory_gb_s) result_.wasted_memory_gb_s += gb_s;
  return result_;
}

void FunctionReplay::PushIdle(absl::Time since, int level, bool prewarmed) {
  double priority = 0;
  if (budget_ != nullptr) {
    priority = GreedyDualPriority(budget_->clock(), static_cast<double>(result_.invocations),
                                  kUniformColdStartCost, memory_mb_);
  }
  idle_since_.push_back(since);
  idle_.push_back(Idle{since, level, prewarmed, priority});
}

void FunctionReplay::PopNewest() {
  idle_since_.pop_back();
  idle_.pop_back();
}

void FunctionReplay::DropOldest(int count) {
  head_ += count;
  if (head_ > 64 && 2 * head_ > idle_.size()) {
    idle_since_.erase(idle_since_.begin(), idle_since_.begin() + static_cast<ptrdiff_t>(head_));
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
  }
}

void FunctionReplay::Account(const Idle& instance, absl::Time now, bool used) {
  const double gb = memory_mb_ / 1024;
  Breakdown& breakdown = result_.breakdown;
  const double seconds = absl::ToDoubleSeconds(now - instance.since);
  const absl::Time half = start_ + length_ / 2;
  if (now > half) {
    breakdown.second_half_gb_s += absl::ToDoubleSeconds(now - std::max(instance.since, half)) * gb;
  }
  breakdown.wasted_memory_gb_s[LevelGroup(instance.level)] += seconds * gb;
  if (instance.prewarmed) {
    breakdown.prewarmed_gb_s += seconds * gb;
    if (!used) ++breakdown.prewarms_unused;
  }
}

void FunctionReplay::Decide(absl::Time now) {
  const int busy = static_cast<int>(call_ends_.size());
  const KeepAliveController::Decision decision =
      controller_.Decide(now, now, IdleTimes(), busy, loaded_,
                         /*min_instances=*/0, std::numeric_limits<int>::max());
  for (int i = 0; i < decision.evict; ++i) Account(idle_[head_ + i], now, false);
  DropOldest(decision.evict);
  result_.evictions += decision.evict;
  if (budget_ != nullptr) budget_->Free(decision.evict * memory_mb_);
  if (decision.unload) loaded_ = false;
  // The new instances serve the levels above those already idle.
  const int base = busy + static_cast<int>(idle_count());
  int prewarmed = 0;
  for (; prewarmed < decision.prewarm; ++prewarmed) {
    if (budget_ != nullptr &&
        !budget_->Reserve(memory_mb_, now, index_, /*may_exceed=*/false)) {
      break;
    }
    PushIdle(now, base + prewarmed + 1, /*prewarmed=*/true);
  }
  result_.prewarm_loads += prewarmed;
  if (prewarmed > 0) loaded_ = true;
  next_decision_ = decision.next_decision;
}

void FunctionReplay::EndCall() {
  const absl::Time call_end = call_ends_.top();
  call_ends_.pop();
  // With k calls running before this end, the instance becomes idle at level k.
  PushIdle(call_end, static_cast<int>(call_ends_.size()) + 1, /*prewarmed=*/false);
  controller_.OnInstanceIdle(call_end);
  Decide(call_end);
}

void FunctionReplay::Arrive() {
  const Call& call = calls_[next_call_++];
  const absl::Time arrival = start_ + call.arrival;
  controller_.OnInstanceBusy(arrival);
  ++result_.invocations;
  if (idle_count() > 0) {
    Account(idle_.back(), arrival, true);
    PopNewest();
  } else {
    ++result_.cold_starts;
    Breakdown& breakdown = result_.breakdown;
    ++breakdown.cold_starts[LevelGroup(static_cast<int>(call_ends_.size()) + 1)];
    if (call.arrival >= length_ / 2) ++breakdown.second_half_cold_starts;
    if (!loaded_) ++result_.load_cold_starts;
    loaded_ = true;
    if (budget_ != nullptr) budget_->Reserve(memory_mb_, arrival, index_, /*may_exceed=*/true);
  }
  call_ends_.push(arrival + call.duration);
  // What the call taught the policy may move other levels' windows (a level that inherits
  // from this one), so decide now, as a host's next maintenance pass would.
  Decide(arrival);
}

bool FunctionReplay::OldestIdlePriority(double* priority) const {
  if (idle_count() == 0) return false;
  *priority = idle_[head_].priority;
  return true;
}

void FunctionReplay::EvictOldestForBudget(absl::Time now) {
  Account(idle_[head_], now, false);
  DropOldest(1);
  ++result_.budget_evictions;
  controller_.OnIdleInstanceEvicted(now);
  if (idle_count() == 0 && call_ends_.empty() && controller_.policy().UnloadWhenEmpty()) {
    loaded_ = false;
  }
}

}  // namespace fnhost::sim
