// Isolated calls in flight without a thread each, against blocking calls:
//   BM_InvokeAsyncIsolated       one thread keeps 64 calls in flight over 4 workers through
//                                InvokeAsync (completions run on the poller's thread)
//   BM_InvokeWarmIsolatedThreads the same function through the blocking Invoke from 1 and from
//                                4 threads, one call in flight each
// Compare items_per_second: the asynchronous thread should match (or beat) 4 blocking threads
// with one thread.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"

namespace fnhost {
namespace {

constexpr int kWorkers = 4;
constexpr int kInFlight = 64;

// Runs a completion on the thread that posts it (the poller's).
class InlineExecutor final : public Executor {
 public:
  void Post(absl::AnyInvocable<void()> task) override { task(); }
};

std::unique_ptr<Host> IsolatedNoopHost(HostOptions options, FunctionHandle* handle,
                                       std::string* error) {
  std::unique_ptr<Host> host = *HostForTesting::Create(options);
  FunctionSpec spec;
  spec.name = "noop";
  spec.module_path = std::string(FNHOST_TEST_MODULE_DIR) + "/noop.so";
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  spec.pool.max_instances = kWorkers;
  spec.pool.max_queue = 2 * kInFlight;
  absl::Status status = host->Register(spec);
  if (status.ok()) status = host->PrewarmAndWait("noop", kWorkers);
  if (!status.ok()) {
    *error = std::string(status.message());
    return nullptr;
  }
  *handle = *host->Lookup("noop");
  return host;
}

void BM_InvokeAsyncIsolated(benchmark::State& state) {
  InlineExecutor executor;
  HostOptions options;
  options.completion_executor = &executor;
  FunctionHandle handle;
  std::string error;
  std::unique_ptr<Host> host = IsolatedNoopHost(options, &handle, &error);
  if (host == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string request = "request";
  std::vector<std::string> responses(kInFlight);
  std::mutex mu;
  std::condition_variable freed;
  std::vector<int> free_slots;
  for (int i = 0; i < kInFlight; ++i) free_slots.push_back(i);
  int64_t failed = 0;
  for (auto _ : state) {
    int slot;
    {
      std::unique_lock<std::mutex> lock(mu);
      freed.wait(lock, [&] { return !free_slots.empty(); });
      slot = free_slots.back();
      free_slots.pop_back();
    }
    host->InvokeAsync(handle, request, &responses[slot],
                      [&, slot](absl::Status status, std::string*) {
                        std::lock_guard<std::mutex> lock(mu);
                        failed += !status.ok();
                        free_slots.push_back(slot);
                        freed.notify_one();
                      });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    freed.wait(lock, [&] { return free_slots.size() == kInFlight; });
  }
  if (failed > 0) state.SkipWithError("calls failed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InvokeAsyncIsolated)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_InvokeWarmIsolatedThreads(benchmark::State& state) {
  static std::unique_ptr<Host> host;
  static FunctionHandle handle;
  static std::string error;
  if (state.thread_index() == 0) host = IsolatedNoopHost(HostOptions(), &handle, &error);
  std::string response;
  const std::string request = "request";
  for (auto _ : state) {
    if (host == nullptr) {
      state.SkipWithError(error.c_str());
      break;
    }
    absl::Status status = host->Invoke(handle, request, &response);
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    handle = FunctionHandle();
    host.reset();
  }
}
BENCHMARK(BM_InvokeWarmIsolatedThreads)
    ->Threads(1)
    ->Threads(4)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace fnhost
