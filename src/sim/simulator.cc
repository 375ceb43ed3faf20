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
// front, a call takes the newest from the back.
class IdleInstances {
 public:
  absl::Span<const absl::Time> view() const { return {times_.data() + head_, size()}; }
  size_t size() const { return times_.size() - head_; }
  absl::Time newest() const { return times_.back(); }
  void Push(absl::Time since, int count = 1) { times_.insert(times_.end(), count, since); }
  void PopNewest() { times_.pop_back(); }
  // Removes the `count` oldest; returns their idle seconds up to `now`.
  double EvictOldest(int count, absl::Time now) {
    double seconds = 0;
    for (int i = 0; i < count; ++i) seconds += absl::ToDoubleSeconds(now - times_[head_ + i]);
    head_ += count;
    if (head_ > 64 && 2 * head_ > times_.size()) {
      times_.erase(times_.begin(), times_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return seconds;
  }

 private:
  std::vector<absl::Time> times_;
  size_t head_ = 0;
};

}  // namespace

FunctionResult SimulateFunction(absl::Span<const Call> calls, double memory_mb,
                                const KeepAliveOptions& options, absl::Duration length) {
  const absl::Time start = absl::UnixEpoch();
  const absl::Time end = start + length;
  KeepAliveController controller(MakeKeepAlivePolicy(options, absl::UTCTimeZone()));
  FunctionResult result;
  IdleInstances idle;
  std::priority_queue<absl::Time, std::vector<absl::Time>, std::greater<>> call_ends;
  bool loaded = false;
  absl::Time next_decision = absl::InfiniteFuture();
  double idle_seconds = 0;

  auto decide = [&](absl::Time now) {
    const KeepAliveController::Decision decision =
        controller.Decide(now, now, idle.view(), static_cast<int>(call_ends.size()), loaded,
                          /*min_instances=*/0, std::numeric_limits<int>::max());
    idle_seconds += idle.EvictOldest(decision.evict, now);
    if (decision.unload) loaded = false;
    if (decision.prewarm > 0) {
      idle.Push(now, decision.prewarm);
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
        idle.Push(call_end);
        controller.OnCallEnd(call_end);
        if (call_ends.empty()) controller.OnIdle(call_end);
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
    controller.OnArrival(arrival);
    ++result.invocations;
    if (idle.size() > 0) {
      idle_seconds += absl::ToDoubleSeconds(arrival - idle.newest());
      idle.PopNewest();
    } else {
      ++result.cold_starts;
      if (!loaded) ++result.load_cold_starts;
      loaded = true;
    }
    call_ends.push(arrival + call.duration);
  }
  advance(end);
  for (absl::Time since : idle.view()) {
    if (since < end) idle_seconds += absl::ToDoubleSeconds(end - since);
  }
  result.wasted_memory_gb_s = idle_seconds * memory_mb / 1024;
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
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t f = next++; f < functions; f = next++) {
      const TraceFunction& function = trace.functions[f];
      const std::vector<Call> calls = ExpandCalls(function, options.seed);
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
