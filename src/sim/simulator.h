// Simulator: replays a Trace through KeepAliveController, the code the host's pool runs, on a
// virtual clock, and measures cold starts and the memory idle instances hold.
//
// Model: one instance per concurrent call. A call that finds an idle warm instance takes the
// most recently idle one (as the pool does) and is warm; otherwise it is a cold start, which
// adds no time to the call (cold starts are counted, not timed). A cold start that finds the
// module unloaded (no instance at all, unless the policy keeps it loaded) is also counted as a
// load: that is the paper's application-level cold start, and in fnhost the expensive one
// (dlopen and state init, where a further instance of a loaded module shares its state).
// Instances the controller
// prewarms are counted as prewarm loads. Wasted memory is the memory of idle warm instances
// times the time they stay idle, in GB-seconds (1 GB = 1024 MB), up to the trace's end; a
// prewarmed instance is idle from its prewarm until a call takes it or it is evicted, so a
// prewarm that no call uses costs its whole window.
// The virtual clock starts at the Unix epoch, a midnight UTC, and serves as the wall clock
// too, so daily windows are read in UTC from the start of the trace.
// Without a memory budget functions are independent, so each is replayed on its own: an
// event loop over its arrivals, the ends of its calls and its controller's next decision, with
// a Decide after every arrival, after every end of a call and at every next decision. A host
// that runs maintenance at least as often as calls arrive and end makes the same decisions
// (tests/keep_alive_replay_test.cc replays a trace through both). Under a memory budget one
// event loop runs every function in time order (memory_budget.h); policies and budgets are
// replayed in parallel.
// Thread-safety: Simulate may use several threads internally; the functions are reentrant.

#ifndef FNHOST_SRC_SIM_SIMULATOR_H_
#define FNHOST_SRC_SIM_SIMULATOR_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "fnhost/function_spec.h"
#include "src/sim/trace.h"

namespace fnhost::sim {

struct SimOptions {
  // Seeds the spreading of per-minute counts inside their minutes. Default: 1.
  uint64_t seed = 1;
  // Replay only the first N functions of the trace; 0 for all. Default: 0.
  int max_functions = 0;
  // Worker threads; results do not depend on it. Default: 1.
  int threads = 1;
  // Node memory budgets in GB: each policy is also replayed under each budget, every function
  // sharing it (see memory_budget.h). Default: none.
  std::vector<double> memory_budgets_gb;
};

// Instance levels grouped for the breakdown: 1, 2, 3-4, 5-16, 17 and up (level k is the
// instance only the k-th concurrent call needs; see KeepAliveController).
inline constexpr int kLevelGroups = 5;
int LevelGroup(int level);
const char* LevelGroupName(int group);

// Where cold starts and idle memory fall, by level group. An idle instance's memory goes to
// the level it had when it became idle (a call ending with k running, or a prewarm for level
// k); a cold start to the level of the call (the number running, itself included).
struct Breakdown {
  std::array<int64_t, kLevelGroups> cold_starts{};
  std::array<double, kLevelGroups> wasted_memory_gb_s{};
  // The part of wasted_memory_gb_s held by prewarmed instances, and the prewarmed instances
  // evicted (or left at the end) without serving a call.
  double prewarmed_gb_s = 0;
  int64_t prewarms_unused = 0;
  // Cold starts in the second half of the trace, and the idle memory held then.
  int64_t second_half_cold_starts = 0;
  double second_half_gb_s = 0;

  void Add(const Breakdown& other);
};

// One function under one policy.
struct FunctionResult {
  int64_t invocations = 0;
  int64_t cold_starts = 0;
  int64_t load_cold_starts = 0;
  int64_t prewarm_loads = 0;
  int64_t evictions = 0;  // idle instances the controller evicted
  int64_t budget_evictions = 0;  // idle instances a memory budget evicted
  double wasted_memory_gb_s = 0;
  Breakdown breakdown;

  void Add(const FunctionResult& other);
};

// Classes of functions, from their calls alone (so that real traces can be broken down too),
// after the generator's shapes: timer-triggered (periodic), rare (fewer calls than hours in
// the trace), bursty (inter-arrival times with a coefficient of variation above
// kBurstyIatCv; a Poisson process has 1) and steady (the rest: Poisson with the diurnal
// shape).
enum class FunctionClass { kTimer, kRare, kBursty, kSteady };
inline constexpr int kFunctionClasses = 4;
inline constexpr double kBurstyIatCv = 1.5;
FunctionClass ClassifyFunction(const TraceFunction& function, absl::Span<const Call> calls,
                               absl::Duration length);
const char* FunctionClassName(FunctionClass function_class);

// The functions of one class under one policy: how many, and their results summed.
struct ClassResult {
  int64_t functions = 0;
  FunctionResult sum;
};

// One policy over the whole trace.
struct PolicyResult {
  std::string policy;  // the spec as given, and " @ N GB" under a memory budget
  KeepAliveOptions options;
  // Under a memory budget (0: none): its size, the idle instances it evicted, the calls that
  // found every instance busy and ran over it, and the most instance memory in use.
  double memory_budget_gb = 0;
  int64_t budget_evictions = 0;
  int64_t over_budget = 0;
  double peak_memory_gb = 0;
  int64_t functions = 0;  // functions with at least one call
  int64_t invocations = 0;
  int64_t cold_starts = 0;
  int64_t load_cold_starts = 0;  // cold starts that had to load the module
  double cold_start_rate = 0;
  // The 75th percentile (nearest rank) over functions of their own cold-start rate.
  double p75_function_cold_start_rate = 0;
  double wasted_memory_gb_s = 0;
  int64_t prewarm_loads = 0;
  // By FunctionClass.
  std::array<ClassResult, kFunctionClasses> by_class{};
};

// Replays `calls` (by arrival) of a function whose instances take `memory_mb` each, from 0
// to `length`. The policy is given `memory_mb` as options.instance_memory_mb.
FunctionResult SimulateFunction(absl::Span<const Call> calls, double memory_mb,
                                const KeepAliveOptions& options, absl::Duration length);

// Replays `trace` under each of `policies` (ParsePolicySpec syntax), in that order; then, for
// each memory budget in `options`, each policy again under it.
absl::StatusOr<std::vector<PolicyResult>> Simulate(const Trace& trace,
                                                   const std::vector<std::string>& policies,
                                                   const SimOptions& options);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_SIMULATOR_H_
