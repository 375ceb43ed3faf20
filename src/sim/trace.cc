// ExpandCalls: see the header.

#include "src/sim/trace.h"

#include <algorithm>

#include "src/sim/random.h"

namespace fnhost::sim {

std::vector<Call> ExpandCalls(const TraceFunction& function, uint64_t seed) {
  if (function.minutes.empty()) return function.calls;
  const uint64_t function_seed = MixSeed(seed, StableHash(function.id));
  const bool timer = function.trigger == "timer";
  const double phase = Rng(function_seed).Uniform();
  constexpr double kMinuteNs = 60e9;
  std::vector<Call> calls;
  int64_t total = 0;
  for (const MinuteCount& entry : function.minutes) total += entry.count;
  calls.reserve(static_cast<size_t>(total));
  std::vector<double> offsets;  // fractions of the minute
  for (const MinuteCount& entry : function.minutes) {
    offsets.clear();
    if (timer) {
      for (int i = 0; i < entry.count; ++i) offsets.push_back((phase + i) / entry.count);
    } else {
      Rng rng(MixSeed(function_seed, static_cast<uint64_t>(entry.minute)));
      for (int i = 0; i < entry.count; ++i) offsets.push_back(rng.Uniform());
      std::sort(offsets.begin(), offsets.end());
    }
    const absl::Duration minute_start = absl::Minutes(entry.minute);
    for (double offset : offsets) {
      calls.push_back(Call{minute_start + absl::Nanoseconds(static_cast<int64_t>(offset * kMinuteNs)),
                           function.duration});
    }
  }
  return calls;
}

}  // namespace fnhost::sim
