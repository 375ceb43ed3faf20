// fnhost_benchmarks: runs every benchmark, then prints each target as a ratio (or a
// difference) against the floor measured in the same run, so figures from different machines
// compare. The ratios go to stdout after the console table, and to stderr when
// --benchmark_format is json or csv, so that stdout stays one parseable document.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

// Passes every report on to the display reporter --benchmark_format chose, and records the real
// time per iteration of every run, by name. With --benchmark_repetitions, each figure is the
// median of the repetitions (once Finish is called).
class RecordingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RecordingReporter(benchmark::BenchmarkReporter* display) : display_(display) {}

  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
  void Finalize() override { display_->Finalize(); }
  void ReportRuns(const std::vector<Run>& runs) override {
    display_->ReportRuns(runs);
    for (const Run& run : runs) {
      // With --benchmark_report_aggregates_only only the aggregates arrive: their median
      // stands for the repetitions.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if ((run.run_type != Run::RT_Iteration && !median) || run.iterations == 0 ||
          run.error_occurred) {
        continue;
      }
      std::string name = run.benchmark_name();
      if (median) name.resize(name.size() - std::string_view("_median").size());
      samples_[name].push_back(run.GetAdjustedRealTime() *
                               benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                               benchmark::GetTimeUnitMultiplier(run.time_unit));
      auto items = run.counters.find("items_per_second");
      if (items != run.counters.end()) samples_["items " + name].push_back(items->second.value);
      for (const auto& [counter, value] : run.counters) {
        samples_["counter " + name + " " + counter].push_back(value);
      }
    }
  }

  // Reduces every figure's repetitions to their median.
  void Finish() {
    for (auto& [key, values] : samples_) {
      std::sort(values.begin(), values.end());
      const size_t n = values.size();
      const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
      if (key.rfind("items ", 0) == 0) {
        items_per_second_[key.substr(6)] = median;
      } else if (key.rfind("counter ", 0) == 0) {
        counters_[key.substr(8)] = median;
      } else {
        nanos_[key] = median;
      }
    }
  }

  const std::map<std::string, double>& nanos() const { return nanos_; }
  const std::map<std::string, double>& items_per_second() const { return items_per_second_; }
  // Every counter of every run, keyed "<run name> <counter name>".
  const std::map<std::string, double>& counters() const { return counters_; }

 private:
  benchmark::BenchmarkReporter* display_;  // not owned
  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, double> nanos_;
  std::map<std::string, double> items_per_second_;
  std::map<std::string, double> counters_;
};

// Finds the first recorded run whose name starts with `prefix`.
const double* Find(const std::map<std::string, double>& runs, const std::string& prefix) {
  for (const auto& [name, value] : runs) {
    if (name.rfind(prefix, 0) == 0) return &value;
  }
  return nullptr;
}

void Ratio(std::FILE* out, const RecordingReporter& reporter, const char* what, const char* target,
           const char* floor, const char* goal) {
  const double* t = Find(reporter.nanos(), target);
  const double* f = Find(reporter.nanos(), floor);
  if (t == nullptr || f == nullptr) return;
  std::fprintf(out, "  %-44s %8.2fx  (%s %.1f ns vs %s %.1f ns; goal %s)\n", what, *t / *f, target,
               *t, floor, *f, goal);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Owned by the library (one per process).
  benchmark::BenchmarkReporter* display = benchmark::CreateDefaultDisplayReporter();
  RecordingReporter reporter(display);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  reporter.Finish();
  std::fflush(stdout);
  std::FILE* out = dynamic_cast<benchmark::ConsoleReporter*>(display) != nullptr ? stdout : stderr;

  std::fprintf(out, "\nRatios against floors measured in this run (medians of repetitions):\n");
  const double* warm = Find(reporter.nanos(), "BM_InvokeWarm/metrics:1");
  const double* direct = Find(reporter.nanos(), "BM_DirectCall");
  if (warm != nullptr && direct != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (goal <= 100 ns)\n",
                 "InvokeWarm - DirectCall (added per call)", *warm - *direct);
  }
  const double* hybrid = Find(reporter.nanos(), "BM_InvokeWarmHybrid");
  if (warm != nullptr && hybrid != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (the hybrid policy's bookkeeping)\n",
                 "InvokeWarmHybrid - InvokeWarm (added per call)", *hybrid - *warm);
  }
  const double* async = Find(reporter.nanos(), "BM_InvokeAsync");
  if (warm != nullptr && async != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (goal <= 30 ns)\n",
                 "InvokeAsync - InvokeWarm (added per call)", *async - *warm);
  }
  const double* canary = Find(reporter.nanos(), "BM_InvokeWarmCanary");
  if (warm != nullptr && canary != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (a traffic split's routing)\n",
                 "InvokeWarmCanary - InvokeWarm (added per call)", *canary - *warm);
  }
  const double* budget = Find(reporter.nanos(), "BM_InvokeWarmBudget");
  if (warm != nullptr && budget != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (a memory budget; goal ~0)\n",
                 "InvokeWarmBudget - InvokeWarm (added per call)", *budget - *warm);
  }
  const double* warm_context = Find(reporter.nanos(), "BM_InvokeWarmContext");
  if (warm_context != nullptr && direct != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (goal <= 100 ns)\n",
                 "InvokeWarmContext - DirectCall (added per call)", *warm_context - *direct);
  }
  for (const char* mode : {"0", "1"}) {
    const std::string prefix = std::string("BM_HostServiceBytes/isolated:") + mode;
    const double* with = Find(reporter.nanos(), prefix + "/host_call:1");
    const double* without = Find(reporter.nanos(), prefix + "/host_call:0");
    if (with != nullptr && without != nullptr) {
      std::fprintf(out, "  %-44s %8.1f ns (reported, no bar)\n",
                   mode[0] == '0' ? "HostServiceBytes in process (per CallHost)"
                                  : "HostServiceBytes isolated (per CallHost)",
                   *with - *without);
    }
  }
  const double* context = Find(reporter.nanos(), "BM_AbiInvokeContext");
  const double* abi_direct = Find(reporter.nanos(), "BM_AbiDirectCall");
  if (context != nullptr && abi_direct != nullptr) {
    std::fprintf(out, "  %-44s %8.1f ns (a context and one metadata read; module side)\n",
                 "AbiInvokeContext - AbiDirectCall", *context - *abi_direct);
  }
  // Exact names: one is a prefix of the other.
  auto typed = reporter.nanos().find("BM_HostServiceTyped");
  auto typed_floor = reporter.nanos().find("BM_HostServiceTypedFloor");
  if (typed != reporter.nanos().end() && typed_floor != reporter.nanos().end()) {
    std::fprintf(out, "  %-44s %8.2f ns (per call; goal <= 10 ns)\n",
                 "HostServiceTyped - direct C call", (typed->second - typed_floor->second) / 1000);
  }
  Ratio(out, reporter, "ColdStart / DlopenFloor", "BM_ColdStart/iter", "BM_DlopenFloor/iter",
        "<= 1.5x");
  Ratio(out, reporter, "SealedDlopenFloor / DlopenFloor", "BM_SealedDlopenFloor",
        "BM_DlopenFloor/iter", "report: the sealed copy alone");
  Ratio(out, reporter, "ColdStart / SealedDlopenFloor", "BM_ColdStart/iter",
        "BM_SealedDlopenFloor", "<= 1.5x: the host's own cost");
  for (const char* size : {"4", "16"}) {
    const std::string suffix = std::string("/size:") + size;
    Ratio(out, reporter, ("ColdStart" + suffix + " / DlopenFloor" + suffix).c_str(),
          ("BM_ColdStart" + suffix).c_str(), ("BM_DlopenFloor" + suffix).c_str(),
          "reported: the copy of the code");
  }
  const double* one = Find(reporter.items_per_second(), "BM_InvokeWarmThreads/real_time/threads:1");
  const double* two = Find(reporter.items_per_second(), "BM_InvokeWarmThreads/real_time/threads:2");
  if (one != nullptr && two != nullptr) {
    std::fprintf(out, "  %-44s %8.2fx\n", "InvokeWarmThreads 2 threads / 1 thread",
                 *two / *one);
  }
  const double* spin_one =
      Find(reporter.items_per_second(), "BM_SpinThreadsFloor/real_time/threads:1");
  const double* spin_two =
      Find(reporter.items_per_second(), "BM_SpinThreadsFloor/real_time/threads:2");
  if (spin_one != nullptr && spin_two != nullptr) {
    std::fprintf(out, "  %-44s %8.2fx  (the machine's own scaling, no host)\n",
                 "SpinThreadsFloor 2 threads / 1 thread", *spin_two / *spin_one);
    if (one != nullptr && two != nullptr) {
      std::fprintf(out, "  %-44s %8.2f   (goal >= 0.92)\n",
                   "InvokeWarmThreads scaling / the machine's", (*two / *one) /
                                                                   (*spin_two / *spin_one));
    }
  }
  for (const char* metrics : {"0", "1"}) {
    const std::string run = std::string("BM_MemoryPerFunction/metrics:") + metrics;
    const double* bytes = Find(reporter.counters(), run + "/iterations:1 bytes_per_function");
    const double* floor = Find(reporter.counters(), run + "/iterations:1 floor_bytes");
    if (bytes != nullptr && floor != nullptr) {
      std::fprintf(out,
                   "  %-44s %8.0f B   (%.1fx a name->path map entry of %.0f B; goal <= 2048 B)\n",
                   ("Memory per unloaded function, metrics:" + std::string(metrics)).c_str(),
                   *bytes, *bytes / *floor, *floor);
    }
  }
  if (const double* host =
          Find(reporter.counters(), "BM_MemoryPerInstance/iterations:1 host_bytes")) {
    std::fprintf(out, "  %-44s %8.0f B   (beyond the module's own; goal <= 1024 B)\n",
                 "Host memory per idle warm instance", *host);
  }
  const std::string reloads = "BM_MemoryAcrossReloads/iterations:1 ";
  if (const double* rss = Find(reporter.counters(), reloads + "rss_growth_kib")) {
    const double* failed = Find(reporter.counters(), reloads + "failed_calls");
    std::fprintf(out, "  %-44s %8.0f KiB (8 callers, %.0f failed calls; goal <= 64 KiB)\n",
                 "RSS growth over 5000 reloads", *rss, failed != nullptr ? *failed : -1);
  }
  for (const char* size : {"1", "64", "256"}) {
    std::string restore = std::string("BM_SnapshotRestore/") + size;
    std::string init = std::string("BM_StateInit/") + size;
    std::string mmap_floor = std::string("BM_MmapFloor/") + size;
    const double* r = Find(reporter.nanos(), restore);
    const double* i = Find(reporter.nanos(), init);
    const double* m = Find(reporter.nanos(), mmap_floor);
    if (r != nullptr && i != nullptr) {
      std::fprintf(out, "  %-44s %8.1fx  (goal >= 20x at 64 MiB)\n",
                   ("StateInit / SnapshotRestore at " + std::string(size) + " MiB").c_str(),
                   *i / *r);
    }
    if (r != nullptr && m != nullptr) {
      std::fprintf(out, "  %-44s %8.2fx  (goal <= 2x)\n",
                   ("SnapshotRestore / MmapFloor at " + std::string(size) + " MiB").c_str(),
                   *r / *m);
    }
    const double* v = Find(reporter.nanos(), std::string("BM_SnapshotRestoreVerified/") + size);
    if (r != nullptr && v != nullptr) {
      std::fprintf(out, "  %-44s %8.2fx  (report: the cost of checking every section)\n",
                   ("RestoreVerified / SnapshotRestore at " + std::string(size) + " MiB").c_str(),
                   *v / *r);
    }
  }
  Ratio(out, reporter, "SnapshotRestore 256 MiB / 1 MiB", "BM_SnapshotRestore/256",
        "BM_SnapshotRestore/1/", "<= 2x");
  const char* kPhase = "/iterations:20/manual_time restore_phase_ms";
  const double* phase_256 =
      Find(reporter.counters(), std::string("BM_SnapshotRestore/256") + kPhase);
  const double* phase_1 = Find(reporter.counters(), std::string("BM_SnapshotRestore/1") + kPhase);
  if (phase_256 != nullptr && phase_1 != nullptr) {
    std::fprintf(out,
                 "  %-44s %8.2fx  (%.3f ms vs %.3f ms, restore phase without the first query)\n",
                 "Restore phase 256 MiB / 1 MiB", *phase_256 / *phase_1, *phase_256, *phase_1);
  }
  if (const double* spawn = Find(reporter.nanos(), "BM_WorkerSpawn/64")) {
    if (const double* init = Find(reporter.nanos(), "BM_StateInit/64")) {
      std::fprintf(out, "  %-44s %8.1fx  (%.2f ms vs %.2f ms; goal >= 10x)\n",
                   "StateInit/64 / WorkerSpawn/64", *init / *spawn, *init / 1e6, *spawn / 1e6);
    }
  }
  Ratio(out, reporter, "WorkerSpawn/64 / ForkExecFloor", "BM_WorkerSpawn/64", "BM_ForkExecFloor",
        "report");
  Ratio(out, reporter, "WorkerSpawnStrict/64 / ForkExecFloor", "BM_WorkerSpawnStrict/64",
        "BM_ForkExecFloor", "<= 1x");
  Ratio(out, reporter, "WorkerSpawnRestore/64 / WorkerSpawn/64", "BM_WorkerSpawnRestore/64",
        "BM_WorkerSpawn/64", "<= 3x");
  for (const char* name : {"InvokeWarmIsolated", "InvokeWarmIsolatedStrict"}) {
    // Exact names: one is a prefix of the other.
    auto isolated = reporter.nanos().find(std::string("BM_") + name + "/real_time");
    if (isolated == reporter.nanos().end()) continue;
    std::fprintf(out, "  %-44s %8.2f us (goal <= 20 us)\n",
                 (std::string(name) + " round trip").c_str(), isolated->second / 1e3);
  }
  Ratio(out, reporter, "InvokeWarmIsolated / SocketRoundTripFloor", "BM_InvokeWarmIsolated",
        "BM_SocketRoundTripFloor", "report");
  Ratio(out, reporter, "InvokeWarmIsolatedNoSpin / SocketRoundTripFloor",
        "BM_InvokeWarmIsolatedNoSpin", "BM_SocketRoundTripFloor", "report (spin_budget 0)");
  const double* async_isolated =
      Find(reporter.items_per_second(), "BM_InvokeAsyncIsolated/real_time");
  for (const char* threads : {"1", "4"}) {
    const double* blocking = Find(
        reporter.items_per_second(),
        std::string("BM_InvokeWarmIsolatedThreads/real_time/threads:") + threads);
    if (async_isolated == nullptr || blocking == nullptr) continue;
    std::fprintf(out, "  %-44s %8.2fx  (%.0f vs %.0f calls/s; report)\n",
                 (std::string("InvokeAsyncIsolated / blocking, ") + threads + " thread(s)").c_str(),
                 *async_isolated / *blocking, *async_isolated, *blocking);
  }
  return 0;
}
