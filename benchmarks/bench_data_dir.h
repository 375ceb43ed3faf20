// Where the benchmarks keep the files they generate (model files, snapshots, module copies):
// bench-data/ in the build directory, so that they go with the build instead of filling /tmp
// (the recommender's models and snapshots at 1, 64 and 256 MiB take about 1 GB).

#ifndef FNHOST_BENCHMARKS_BENCH_DATA_DIR_H_
#define FNHOST_BENCHMARKS_BENCH_DATA_DIR_H_

#include <filesystem>

namespace fnhost::bench {

// The directory, created on first use.
inline std::filesystem::path BenchDataDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path path = FNHOST_BENCH_DATA_DIR;
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

}  // namespace fnhost::bench

#endif  // FNHOST_BENCHMARKS_BENCH_DATA_DIR_H_
