// Simulator: see the header for the model.

#include "src/sim/simulator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/policy/keep_alive_controller.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost::sim {
namespace {

// Idle instances by the time they became idle, oldest first: the controller evicts from the
// front, a call takes the newest from the back. Each carries a tag for the breakdown.
class IdleInstances {
 public:
  struct Tag {
    int level = 1;  // the level it had when it became idle
    bool prewarmed = false;
  };
  absl::Span<const absl::Time> view() const { return {times_.data() + head_, size()}; }
  size_t size() const { return times_.size() - head_; }
  absl::Time newest() const { return times_.back(); }
  const Tag& newest_tag() const { return tags_.back(); }
  absl::Time at(size_t i) const { return times_[head_ + i]; }
  const Tag& tag(size_t i) const { return tags_[head_ + i]; }
  void Push(absl::Time since, Tag tag) {
    times_.push_back(since);
    tags_.push_back(tag);
  }
  void PopNewest() {
    times_.pop_back();
    tags_.pop_back();
  }
  void DropOldest(int count) {
    head_ += count;
    if (head_ > 64 && 2 * head_ > times_.size()) {
      times_.erase(times_.begin(), times_.begin() + static_cast<std::ptrdiff_t>(head_));
      tags_.erase(tags_.begin(), tags_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<absl::Time> times_;
  std::vector<Tag> tags_;
  size_t head_ = 0;
};

}  // namespace

int LevelGroup(int level) {
  if (level <= 1) return 0;
  if (level == 2) return 1;
  if (level <= 4) return 2;
  if (level <= 16) return 3;
  return 4;
}

const char* LevelGroupName(int group) {
  static constexpr const char* kNames[kLevelGroups] = {"1", "2", "3-4", "5-16", "17+"};
  return group >= 0 && group < kLevelGroups ? kNames[group] : "?";
}

void Breakdown::Add(const Breakdown& other) {
  for (int g = 0; g < kLevelGroups; ++g) {
    cold_starts[g] += other.cold_starts[g];
    wasted_memory_gb_s[g] += other.wasted_memory_gb_s[g];
  }
  prewarmed_gb_s += other.prewarmed_gb_s;
  prewarms_unused += other.prewarms_unused;
  second_half_cold_starts += other.second_half_cold_starts;
  second_half_gb_s += other.second_half_gb_s;
}

void FunctionResult::Add(const FunctionResult& other) {
  invocations += other.invocations;
  cold_starts += other.cold_starts;
  load_cold_starts += other.load_cold_starts;
  prewarm_loads += other.prewarm_loads;
  evictions += other.evictions;
  wasted_memory_gb_s += other.wasted_memory_gb_s;
  breakdown.Add(other.breakdown);
}

FunctionClass ClassifyFunction(const TraceFunction& function, absl::Span<const Call> calls,
                               absl::Duration length) {
  if (function.trigger == "timer") return FunctionClass::kTimer;
  if (calls.size() < 2 || static_cast<double>(calls.size()) < absl::ToDoubleHours(length)) {
    return FunctionClass::kRare;
  }
  double sum = 0, sum_of_squares = 0;
  for (size_t i = 1; i < calls.size(); ++i) {
    const double iat = absl::ToDoubleSeconds(calls[i].arrival - calls[i - 1].arrival);
    sum += iat;
    sum_of_squares += iat * iat;
  }
  const double n = static_cast<double>(calls.size() - 1);
  const double mean = sum / n;
  const double cv = mean > 0 ? std::sqrt(std::max(0.0, sum_of_squares / n - mean * mean)) / mean
                             : 0;
  return cv > kBurstyIatCv ? FunctionClass::kBursty : FunctionClass::kSteady;
}

const char* FunctionClassName(FunctionClass function_class) {
  switch (function_class) {
    case FunctionClass::kTimer:
      return "timer";
    case FunctionClass::kRare:
      return "rare";
    case FunctionClass::kBursty:
      return "bursty";
    case FunctionClass::kSteady:
      return "steady";
  }
  return "?";
}

FunctionResult SimulateFunction(absl::Span<const Call> calls, double memory_mb,
                                const KeepAliveOptions& options, absl::Duration length) {
  const absl::Time start = absl::UnixEpoch();
  const absl::Time end = start + length;
  // The policy knows what an instance of this function holds, as a host does from
  // KeepAliveOptions::instance_memory_mb.
  KeepAliveOptions policy_options = options;
  policy_options.instance_memory_mb = memory_mb;
  KeepAliveController controller(MakeKeepAlivePolicy(policy_options, absl::UTCTimeZone()));
  FunctionResult result;
  IdleInstances idle;
  std::priority_queue<absl::Time, std::vector<absl::Time>, std::greater<>> call_ends;
  bool loaded = false;
  absl::Time next_decision = absl::InfiniteFuture();
  Breakdown& breakdown = result.breakdown;
  const double gb = memory_mb / 1024;
  // An instance idle from `since` leaves the idle list at `now`, used or not.
  auto account = [&](absl::Time since, const IdleInstances::Tag& tag, absl::Time now,
                     bool used) {
    const double seconds = absl::ToDoubleSeconds(now - since);
    const absl::Time half = start + length / 2;
    if (now > half) {
      breakdown.second_half_gb_s += absl::ToDoubleSeconds(now - std::max(since, half)) * gb;
    }
    breakdown.wasted_memory_gb_s[LevelGroup(tag.level)] += seconds * gb;
    if (tag.prewarmed) {
      breakdown.prewarmed_gb_s += seconds * gb;
      if (!used) ++breakdown.prewarms_unused;
    }
  };

  auto decide = [&](absl::Time now) {
    const int busy = static_cast<int>(call_ends.size());
    const KeepAliveController::Decision decision =
        controller.Decide(now, now, idle.view(), busy, loaded,
                          /*min_instances=*/0, std::numeric_limits<int>::max());
    for (int i = 0; i < decision.evict; ++i) account(idle.at(i), idle.tag(i), now, false);
    idle.DropOldest(decision.evict);
    result.evictions += decision.evict;
    if (decision.unload) loaded = false;
    if (decision.prewarm > 0) {
      // The new instances serve the levels above those already idle.
      const int base = busy + static_cast<int>(idle.size());
      for (int i = 1; i <= decision.prewarm; ++i) {
        idle.Push(now, IdleInstances::Tag{base + i, /*prewarmed=*/true});
      }
      result.prewarm_loads += decision.prewarm;
      loaded = true;
    }
    next_decision = decision.next_decision;
  };
  // Processes the ends of calls and the decisions due up to `t`, in time order (an end
  // before a decision at the same time).
  auto advance = [&](absl::Time t) {
    for (;;) {
      const absl::Time call_end = call_ends.empty() ? absl::InfiniteFuture() : call_ends.top();
      if (call_end <= t && call_end <= next_decision) {
        call_ends.pop();
        // With k calls running before this end, the instance becomes idle at level k.
        idle.Push(call_end, IdleInstances::Tag{static_cast<int>(call_ends.size()) + 1, false});
        controller.OnInstanceIdle(call_end);
        decide(call_end);
      } else if (next_decision <= t) {
        decide(next_decision);
      } else {
        return;
      }
    }
  };

  decide(start);  // as the host does after Register: scheduled instances, the warmer's clock
  for (const Call& call : calls) {
    const absl::Time arrival = start + call.arrival;
    advance(arrival);
    controller.OnInstanceBusy(arrival);
    ++result.invocations;
    if (idle.size() > 0) {
      account(idle.newest(), idle.newest_tag(), arrival, true);
      idle.PopNewest();
    } else {
      ++result.cold_starts;
      ++breakdown.cold_starts[LevelGroup(static_cast<int>(call_ends.size()) + 1)];
      if (call.arrival >= length / 2) ++breakdown.second_half_cold_starts;
      if (!loaded) ++result.load_cold_starts;
      loaded = true;
    }
    call_ends.push(arrival + call.duration);
    // What the call taught the policy may move other levels' windows (a level that inherits
    // from this one), so decide now, as a host's next maintenance pass would.
    decide(arrival);
  }
  advance(end);
  for (size_t i = 0; i < idle.size(); ++i) {
    if (idle.at(i) < end) account(idle.at(i), idle.tag(i), end, false);
  }
  for (double gb_s : breakdown.wasted_memory_gb_s) result.wasted_memory_gb_s += gb_s;
  return result;
}

absl::StatusOr<std::vector<PolicyResult>> Simulate(const Trace& trace,
                                                   const std::vector<std::string>& policies,
                                                   const SimOptions& options) {
  if (policies.empty()) return absl::InvalidArgumentError("Simulate: no policy given");
  std::vector<PolicyResult> results(policies.size());
  for (size_t p = 0; p < policies.size(); ++p) {
    absl::StatusOr<KeepAliveOptions> parsed = ParsePolicySpec(policies[p]);
    if (!parsed.ok()) return parsed.status();
    results[p].policy = policies[p];
    results[p].options = *parsed;
  }
  const size_t functions =
      options.max_functions > 0
          ? std::min(trace.functions.size(), static_cast<size_t>(options.max_functions))
          : trace.functions.size();

  // per_function[f * policies + p]; filled by the workers, summed in order afterwards so that
  // the totals do not depend on the number of threads.
  std::vector<FunctionResult> per_function(functions * policies.size());
  std::vector<FunctionClass> classes(functions);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t f = next++; f < functions; f = next++) {
      const TraceFunction& function = trace.functions[f];
      const std::vector<Call> calls = ExpandCalls(function, options.seed);
      if (!calls.empty()) classes[f] = ClassifyFunction(function, calls, trace.length);
      for (size_t p = 0; p < policies.size(); ++p) {
        per_function[f * policies.size() + p] =
            SimulateFunction(calls, function.memory_mb, results[p].options, trace.length);
      }
    }
  };
  std::vector<std::thread> workers;
  for (int i = 1; i < options.threads; ++i) workers.emplace_back(work);
  work();
  for (std::thread& worker : workers) worker.join();

  for (size_t p = 0; p < policies.size(); ++p) {
    PolicyResult& total = results[p];
    std::vector<double> rates;
    for (size_t f = 0; f < functions; ++f) {
      const FunctionResult& one = per_function[f * policies.size() + p];
      if (one.invocations == 0) continue;
      ++total.functions;
      total.invocations += one.invocations;
      total.cold_starts += one.cold_starts;
      total.load_cold_starts += one.load_cold_starts;
      total.prewarm_loads += one.prewarm_loads;
      total.wasted_memory_gb_s += one.wasted_memory_gb_s;
      ClassResult& by_class = total.by_class[static_cast<int>(classes[f])];
      ++by_class.functions;
      by_class.sum.Add(one);
      rates.push_back(static_cast<double>(one.cold_starts) / static_cast<double>(one.invocations));
    }
    if (total.invocations > 0) {
      total.cold_start_rate =
          static_cast<double>(total.cold_starts) / static_cast<double>(total.invocations);
    }
    if (!rates.empty()) {
      std::sort(rates.begin(), rates.end());
      const size_t rank = static_cast<size_t>(std::ceil(0.75 * static_cast<double>(rates.size())));
      total.p75_function_cold_start_rate = rates[std::max<size_t>(rank, 1) - 1];
    }
  }
  return results;
}

}  // namespace fnhost::sim
