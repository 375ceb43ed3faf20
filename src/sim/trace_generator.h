// GenerateTrace: a synthetic Azure-Functions-like trace that follows the published
// characterisation of Azure Functions (Shahrad et al., "Serverless in the Wild", USENIX ATC
// 2020), for judging keep-alive policies when the real trace is out of reach. The .cc file
// names the figure behind each parameter; where the paper gives no number, the choice is
// marked as ours.
// Thread-safety: a pure function of its options.

#ifndef FNHOST_SRC_SIM_TRACE_GENERATOR_H_
#define FNHOST_SRC_SIM_TRACE_GENERATOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "src/sim/trace.h"

namespace fnhost::sim {

struct GeneratorOptions {
  // Functions in the trace, grouped into apps. Default: 1000.
  int functions = 1000;
  // Days of calls. Default: 1.
  int days = 1;
  // The same seed gives the same trace. Default: 1.
  uint64_t seed = 1;
};

// Functions with per-minute counts, average durations and per-function memory, as ReadTrace
// returns them for an Azure 2019 trace.
absl::StatusOr<Trace> GenerateTrace(const GeneratorOptions& options);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_TRACE_GENERATOR_H_
