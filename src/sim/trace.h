// Trace: the calls of a set of functions, as read from an Azure Functions trace (2019: counts
// per minute; 2021: one row per call) or produced by the generator, ready for the simulator.
// Thread-safety: plain data; ExpandCalls is thread-safe.

#ifndef FNHOST_SRC_SIM_TRACE_H_
#define FNHOST_SRC_SIM_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace fnhost::sim {

// One call, as offsets from the start of the trace.
struct Call {
  absl::Duration arrival;
  absl::Duration duration;
};

// Calls that arrived during one minute of the trace (minute 0 is the first of day 1).
struct MinuteCount {
  int32_t minute = 0;
  int32_t count = 0;
};

struct TraceFunction {
  // Unique in the trace: "owner/app/function" hashes (2019) or "app/function" (2021).
  std::string id;
  std::string app;
  // The 2019 trace's trigger ("http", "timer", "queue", ...); empty when unknown.
  std::string trigger;
  // Memory of one instance: the app's average allocated memory shared by its functions.
  double memory_mb = 0;
  // Duration of every call spread from `minutes` (the 2019 trace's average duration).
  absl::Duration duration;
  // Either per-minute counts (non-zero ones, by minute) ...
  std::vector<MinuteCount> minutes;
  // ... or the calls themselves, by arrival.
  std::vector<Call> calls;
};

struct Trace {
  std::vector<TraceFunction> functions;
  // The replay runs from 0 to `length`; idle memory is counted up to it.
  absl::Duration length;
  // How many functions had no duration, and how many apps no memory, in the side files;
  // they got the defaults below.
  int functions_without_duration = 0;
  int apps_without_memory = 0;
};

// Used where a trace gives no duration (about the median average duration, e^-0.38 s, of the
// log-normal fit in Shahrad et al. 2020, Figure 7, rounded up) or no memory (about the median
// app's allocated memory of the paper's Burr fit, Figure 8).
inline constexpr absl::Duration kDefaultDuration = absl::Seconds(1);
inline constexpr double kDefaultAppMemoryMb = 140;

// The calls of `function` by arrival: its explicit calls, or its per-minute counts spread
// inside their minutes. Timer-triggered functions fire at the same per-function phase in every
// minute (evenly spaced when several fire in one minute), as timers do; others get independent
// uniform offsets. Offsets depend only on `seed` and the function's id.
std::vector<Call> ExpandCalls(const TraceFunction& function, uint64_t seed);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_TRACE_H_
