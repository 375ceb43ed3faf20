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
#include "src/policy/keep_alive_policy.h"
#include "src/sim/function_replay.h"
#include "src/sim/memory_budget.h"

namespace fnhost::sim {

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
  budget_evictions += other.budget_evictions;
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
  return FunctionReplay(calls, memory_mb, options, length).Run();
}

namespace {

// Sums one policy's per-function results, `at(f)`, into `total`, in function order.
void Summarize(size_t functions, const std::vector<FunctionClass>& classes,
               const std::function<const FunctionResult&(size_t)>& at, PolicyResult* total) {
  std::vector<double> rates;
  for (size_t f = 0; f < functions; ++f) {
    const FunctionResult& one = at(f);
    if (one.invocations == 0) continue;
    ++total->functions;
    total->invocations += one.invocations;
    total->cold_starts += one.cold_starts;
    total->load_cold_starts += one.load_cold_starts;
    total->prewarm_loads += one.prewarm_loads;
    total->wasted_memory_gb_s += one.wasted_memory_gb_s;
    ClassResult& by_class = total->by_class[static_cast<int>(classes[f])];
    ++by_class.functions;
    by_class.sum.Add(one);
    rates.push_back(static_cast<double>(one.cold_starts) / static_cast<double>(one.invocations));
  }
  if (total->invocations > 0) {
    total->cold_start_rate =
        static_cast<double>(total->cold_starts) / static_cast<double>(total->invocations);
  }
  if (!rates.empty()) {
    std::sort(rates.begin(), rates.end());
    const size_t rank = static_cast<size_t>(std::ceil(0.75 * static_cast<double>(rates.size())));
    total->p75_function_cold_start_rate = rates[std::max<size_t>(rank, 1) - 1];
  }
}

// Runs work(i) for i in [0, count) on `threads` threads.
void ParallelFor(size_t count, int threads, const std::function<void(size_t)>& work) {
  std::atomic<size_t> next{0};
  auto loop = [&] {
    for (size_t i = next++; i < count; i = next++) work(i);
  };
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back(loop);
  loop();
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

absl::StatusOr<std::vector<PolicyResult>> Simulate(const Trace& trace,
                                                   const std::vector<std::string>& policies,
                                                   const SimOptions& options) {
  if (policies.empty()) return absl::InvalidArgumentError("Simulate: no policy given");
  for (double budget : options.memory_budgets_gb) {
    if (!(budget > 0) || !std::isfinite(budget)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Simulate: memory budget ", budget, " GB is not a positive size"));
    }
  }
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
  ParallelFor(functions, options.threads, [&](size_t f) {
    const TraceFunction& function = trace.functions[f];
    const std::vector<Call> calls = ExpandCalls(function, options.seed);
    if (!calls.empty()) classes[f] = ClassifyFunction(function, calls, trace.length);
    for (size_t p = 0; p < policies.size(); ++p) {
      per_function[f * policies.size() + p] =
          SimulateFunction(calls, function.memory_mb, results[p].options, trace.length);
    }
  });
  for (size_t p = 0; p < policies.size(); ++p) {
    Summarize(functions, classes,
              [&](size_t f) -> const FunctionResult& { return per_function[f * policies.size() + p]; },
              &results[p]);
  }
  if (options.memory_budgets_gb.empty()) return results;

  // Under a budget, all functions in one event loop; each (budget, policy) on its own thread.
  std::vector<std::vector<Call>> calls(functions);
  ParallelFor(functions, options.threads,
              [&](size_t f) { calls[f] = ExpandCalls(trace.functions[f], options.seed); });
  const size_t runs = options.memory_budgets_gb.size() * policies.size();
  std::vector<std::vector<FunctionResult>> budgeted(runs);
  std::vector<BudgetCounts> counts(runs);
  ParallelFor(runs, options.threads, [&](size_t run) {
    budgeted[run] = ReplayUnderBudget(trace, calls, results[run % policies.size()].options,
                                      options.memory_budgets_gb[run / policies.size()] * 1024,
                                      &counts[run]);
  });
  for (size_t run = 0; run < runs; ++run) {
    PolicyResult total;
    const double budget = options.memory_budgets_gb[run / policies.size()];
    total.policy = absl::StrCat(results[run % policies.size()].policy, " @ ", budget, " GB");
    total.options = results[run % policies.size()].options;
    total.memory_budget_gb = budget;
    total.budget_evictions = counts[run].evictions;
    total.over_budget = counts[run].over_budget;
    total.peak_memory_gb = counts[run].peak_mb / 1024;
    Summarize(functions, classes,
              [&](size_t f) -> const FunctionResult& { return budgeted[run][f]; }, &total);
    results.push_back(std::move(total));
  }
  return results;
}

}  // namespace fnhost::sim
