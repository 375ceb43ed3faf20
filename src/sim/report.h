// Report: the simulator's results as a table (stdout), a CSV file, a comparison of each
// non-fixed policy with the fixed keep-alive curve, and an SVG chart of cold-start rate
// against wasted memory.
// Thread-safety: pure functions.

#ifndef FNHOST_SRC_SIM_REPORT_H_
#define FNHOST_SRC_SIM_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "src/sim/simulator.h"

namespace fnhost::sim {

std::string FormatTable(const std::vector<PolicyResult>& results);

// One row per policy: policy,functions,invocations,cold_starts,cold_start_rate,
// p75_function_cold_start_rate,wasted_memory_gb_s,prewarm_loads,load_cold_starts.
std::string FormatCsv(const std::vector<PolicyResult>& results);

// A non-fixed policy against the fixed keep-alive curve (the fixed policies' points by wasted
// memory, joined by straight lines) at the policy's own wasted memory, for one count
// (cold_starts or load_cold_starts).
struct CurveComparison {
  std::string policy;
  std::string lower;  // the fixed policies the policy's memory falls between
  std::string upper;
  double fixed_count = 0;  // the curve, interpolated linearly at the policy's memory
  double reduction = 0;    // 1 - the policy's count / fixed_count
};
// Empty when the policy's memory is outside the fixed curve's range (or there is no curve).
// With `by_memory`, the curve of the fixed policies scaled by memory ("fixed:20m,by-memory").
std::optional<CurveComparison> CompareWithFixedCurve(
    const std::vector<PolicyResult>& results, const PolicyResult& policy,
    int64_t PolicyResult::*count = &PolicyResult::cold_starts, bool by_memory = false);
// Lines for the table's footer: each non-fixed policy against the fixed curve, for cold starts
// and for loads, and each other policy against the by-memory fixed curve where there is one.
std::string FormatComparisons(const std::vector<PolicyResult>& results);

// For each policy, its cold starts and wasted memory by function class and instance level
// group (see Breakdown), and the idle memory held by prewarmed instances.
std::string FormatBreakdown(const std::vector<PolicyResult>& results);

// One row per policy replayed under a memory budget: its counts, the idle instances the budget
// evicted, the calls that ran over it, and the most instance memory in use. Empty without one.
std::string FormatBudgets(const std::vector<PolicyResult>& results);

// Cold-start rate (y) against wasted memory (x), without the results under a memory budget: fixed policies as a labelled curve, hybrid
// policies as highlighted points, others as plain points.
std::string RenderSvg(const std::vector<PolicyResult>& results, const std::string& title);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_REPORT_H_
