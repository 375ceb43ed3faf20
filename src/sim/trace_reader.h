// Reads Azure Functions traces into a Trace. The format is recognised from each file's header:
//  - Azure Functions 2019 invocations: HashOwner,HashApp,HashFunction,Trigger,1,...,1440 (calls
//    per minute of one day). Several files are consecutive days, in the order given. Beside
//    each file, durations come from function_durations_percentiles.anon.dNN.csv (NN from the
//    invocations file's name, invocations_per_function_md.anon.dNN.csv) or durations.csv
//    (column Average, ms, per HashOwner,HashApp,HashFunction), and memory from
//    app_memory_percentiles.anon.dNN.csv or memory.csv (column AverageAllocatedMb per
//    HashOwner,HashApp). The first day that has a value wins; missing ones get the defaults
//    of trace.h and are counted in the Trace.
//  - invitro's sampler (vHive): N_inv.csv with HashFunction,HashApp,HashOwner,minute_1,...,
//    minute_M (calls per minute; M minutes, 1440 for a day), with N_run.csv (column Average,
//    ms, per HashOwner,HashApp,HashFunction) and N_mem.csv (AverageAllocatedMb per
//    HashOwner,HashApp) beside it. Several files are consecutive, as for 2019.
//  - Azure Functions 2021: app,func,end_timestamp,duration (seconds from the trace start), one
//    row per call; one file. No memory is given: every app gets the default.
// A path may also be a directory: its invocations_per_function_md.anon.d*.csv files, by name.
// Thread-safety: thread-compatible (no shared state).

#ifndef FNHOST_SRC_SIM_TRACE_READER_H_
#define FNHOST_SRC_SIM_TRACE_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/sim/trace.h"

namespace fnhost::sim {

absl::StatusOr<Trace> ReadTrace(const std::vector<std::string>& paths);

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_TRACE_READER_H_
