// The recommender example sized to a given amount of state, shared by the benchmarks that
// compare a full init with a snapshot restore and with a worker forked from a zygote.

#ifndef FNHOST_BENCHMARKS_RECOMMENDER_STATE_H_
#define FNHOST_BENCHMARKS_RECOMMENDER_STATE_H_

#include <cstdint>
#include <string>

#include "benchmarks/bench_data_dir.h"

namespace fnhost::bench {

// Path of the built recommender module.
inline std::string RecommenderModulePath() {
  return std::string(FNHOST_EXAMPLE_MODULE_DIR) + "/recommender.so";
}

// The model file of RecommenderInitConfig(mib), in BenchDataDir().
inline std::string RecommenderModelPath(int64_t mib) {
  return (BenchDataDir() / ("recommender-" + std::to_string(mib) + "mib.txt")).string();
}

// An init config whose vectors take `mib` MiB (32 floats per item); the model file is
// generated once per size (RecommenderModelPath) and reused by later runs. The IVF clusters
// keep their default size (512 items), so their number grows with the state and a query's work
// does not.
inline std::string RecommenderInitConfig(int64_t mib) {
  const int64_t items = mib * (int64_t{1} << 20) / (32 * sizeof(float));
  return "items=" + std::to_string(items) +
         " dim=32 topics=256 seed=1 model=" + RecommenderModelPath(mib);
}

}  // namespace fnhost::bench

#endif  // FNHOST_BENCHMARKS_RECOMMENDER_STATE_H_
