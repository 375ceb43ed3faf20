// What the Host's bookkeeping costs in memory, from the allocator's own count (mallinfo2: bytes
// in use in every arena plus mmapped blocks, chunk headers included) before and after N = 1000
// of something, each against a floor measured the same way in the same run:
//   BM_MemoryPerFunction    Register of an unloaded function (noop module), against a
//                           flat_hash_map<std::string, std::string> entry holding the same name
//                           and module path. Target: at most 2 KiB per function (metrics:0;
//                           metrics:1 adds the aggregator's per-function record).
//   BM_MemoryPerInstance    one more idle warm instance of a loaded function, less what the
//                           module itself allocates per instance (measured through the raw ABI).
//                           Target: at most 1 KiB of host bookkeeping per instance.
//   BM_MemoryAcrossReloads  8 threads call one function while it is reloaded 5000 times, after
//                           500 to warm up: the growth of RSS (target: at most 64 KiB) and of
//                           the allocator's bytes in use. Each reload warms the new version's
//                           instances on the reloading thread; when callers created them, the
//                           churn touched every page of each caller's malloc arena once, and
//                           RSS grew by about 110 B per reload until 8 x 132 KiB were resident.
// Figures are counters (bytes per function or instance); `vs_floor` is the ratio to the floor.
#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "fnhost/abi.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"

namespace fnhost {
namespace {

constexpr int kCount = 1000;

std::string NoopModule() { return std::string(FNHOST_TEST_MODULE_DIR) + "/noop.so"; }

// Bytes the allocator has handed out and not had back.
double AllocatedBytes() {
  struct mallinfo2 info = ::mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

std::string FunctionName(int i) { return absl::StrCat("function-", 10000 + i); }

std::unique_ptr<Host> NewHost(MetricsSink* sink) {
  HostOptions options;
  options.metrics_sink = sink;
  return *HostForTesting::Create(options);
}

// The floor: a map entry from the function's name to its module path.
double FloorBytesPerFunction() {
  const double before = AllocatedBytes();
  auto* map = new absl::flat_hash_map<std::string, std::string>();
  for (int i = 0; i < kCount; ++i) map->emplace(FunctionName(i), NoopModule());
  const double after = AllocatedBytes();
  delete map;
  return (after - before) / kCount;
}

void BM_MemoryPerFunction(benchmark::State& state) {
  MetricsAggregator metrics;
  double per_function = 0;
  double floor = 0;
  for (auto _ : state) {
    floor = FloorBytesPerFunction();
    std::unique_ptr<Host> host = NewHost(state.range(0) ? &metrics : nullptr);
    const std::string module = NoopModule();
    const double before = AllocatedBytes();
    for (int i = 0; i < kCount; ++i) {
      FunctionSpec spec;
      spec.name = FunctionName(i);
      spec.module_path = module;
      if (absl::Status status = host->Register(std::move(spec)); !status.ok()) {
        state.SkipWithError(std::string(status.message()).c_str());
        return;
      }
    }
    per_function = (AllocatedBytes() - before) / kCount;
  }
  state.counters["bytes_per_function"] = per_function;
  state.counters["floor_bytes"] = floor;
  state.counters["vs_floor"] = per_function / floor;
}
BENCHMARK(BM_MemoryPerFunction)->ArgName("metrics")->Arg(0)->Arg(1)->Iterations(1);

// What the noop module allocates for one instance, through the raw ABI with no host.
double ModuleBytesPerInstance() {
  void* handle = ::dlopen(NoopModule().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return -1;
  auto entry =
      reinterpret_cast<fnhost_module_entry_fn>(::dlsym(handle, FNHOST_MODULE_ENTRY_SYMBOL));
  const fnhost_module_v1* table = entry(FNHOST_ABI_VERSION);
  fnhost_host_output output{nullptr, nullptr, nullptr};
  fnhost_host_init_context context{"bench", nullptr, 0, {}, &output};
  fnhost_module_state* module_state = nullptr;
  table->state_create(&context, &module_state);
  std::vector<fnhost_module_instance*> instances(kCount);
  const double before = AllocatedBytes();
  for (fnhost_module_instance*& instance : instances) {
    table->instance_create(module_state, &output, &instance);
  }
  const double per_instance = (AllocatedBytes() - before) / kCount;
  for (fnhost_module_instance* instance : instances) table->instance_destroy(instance);
  table->state_destroy(module_state);
  ::dlclose(handle);
  return per_instance;
}

void BM_MemoryPerInstance(benchmark::State& state) {
  double per_instance = 0;
  double module_bytes = 0;
  for (auto _ : state) {
    module_bytes = ModuleBytesPerInstance();
    std::unique_ptr<Host> host = NewHost(nullptr);
    FunctionSpec spec;
    spec.name = "noop";
    spec.module_path = NoopModule();
    spec.pool.max_instances = kCount + 1;
    host->Register(spec).IgnoreError();
    // Loaded with one instance first, so that only instances are counted, not the state.
    if (absl::Status status = host->PrewarmAndWait("noop", 1); !status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      return;
    }
    const double before = AllocatedBytes();
    host->PrewarmAndWait("noop", kCount + 1).IgnoreError();
    per_instance = (AllocatedBytes() - before) / kCount;
    if (host->ListFunctions()[0].idle_instances != kCount + 1) {
      state.SkipWithError("prewarm did not make every instance");
      return;
    }
  }
  state.counters["bytes_per_instance"] = per_instance;
  state.counters["module_bytes"] = module_bytes;
  state.counters["host_bytes"] = per_instance - module_bytes;
}
BENCHMARK(BM_MemoryPerInstance)->Iterations(1);

// The resident set size, in KiB (VmRSS).
double ResidentKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  }
  return -1;
}

void BM_MemoryAcrossReloads(benchmark::State& state) {
  constexpr int kCallers = 8;
  constexpr int kWarmUp = 500;
  constexpr int kReloads = 5000;
  MetricsAggregator metrics;
  double rss_growth_kib = 0;
  double heap_per_reload = 0;
  std::atomic<int64_t> calls{0};
  std::atomic<int64_t> failures{0};
  for (auto _ : state) {
    std::unique_ptr<Host> host = NewHost(&metrics);
    FunctionSpec spec;
    spec.name = "noop";
    spec.module_path = NoopModule();
    host->Register(spec).IgnoreError();
    absl::StatusOr<FunctionHandle> handle = host->Lookup("noop");
    if (!handle.ok()) {
      state.SkipWithError(std::string(handle.status().message()).c_str());
      return;
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < kCallers; ++t) {
      callers.emplace_back([&] {
        std::string response;
        while (!stop.load()) {
          if (!host->Invoke(*handle, "x", &response).ok()) ++failures;
          ++calls;
        }
      });
    }
    double rss_before = 0;
    double heap_before = 0;
    absl::Status status;
    for (int i = 0; i < kWarmUp + kReloads && status.ok(); ++i) {
      if (i == kWarmUp) {
        rss_before = ResidentKib();
        heap_before = AllocatedBytes();
      }
      status = host->Reload("noop", NoopModule());
    }
    rss_growth_kib = ResidentKib() - rss_before;
    heap_per_reload = (AllocatedBytes() - heap_before) / kReloads;
    stop = true;
    for (std::thread& caller : callers) caller.join();
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      return;
    }
  }
  state.counters["rss_growth_kib"] = rss_growth_kib;
  state.counters["heap_bytes_per_reload"] = heap_per_reload;
  state.counters["calls"] = static_cast<double>(calls.load());
  state.counters["failed_calls"] = static_cast<double>(failures.load());
}
BENCHMARK(BM_MemoryAcrossReloads)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fnhost
