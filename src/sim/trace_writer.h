// WriteAzure2019Trace: writes a Trace in the Azure Functions 2019 dataset's layout, so that
// generated traces are read exactly like the real one.
// Thread-safety: thread-compatible.

#ifndef FNHOST_SRC_SIM_TRACE_WRITER_H_
#define FNHOST_SRC_SIM_TRACE_WRITER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/sim/trace.h"

namespace fnhost::sim {

// Creates `dir` and writes, for each day NN = 01, 02, ...:
// invocations_per_function_md.anon.dNN.csv (the functions with calls that day),
// function_durations_percentiles.anon.dNN.csv (the average duration in every statistic
// column) and app_memory_percentiles.anon.dNN.csv (the app's memory, the sum of its
// functions', in every statistic column). The trace must last whole days, have per-minute
// counts, and ids of the form owner/app/function.
absl::Status WriteAzure2019Trace(const Trace& trace, const std::string& dir);

// Writes `contents` to `path`, replacing the file (also used for the simulator's reports).
absl::Status WriteTextFile(const std::string& path, std::string_view contents);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_TRACE_WRITER_H_
