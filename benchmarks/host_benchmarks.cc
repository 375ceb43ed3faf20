// The warm path and the cold start of the Host, each against its floor:
//   BM_DirectCall       the no-op handler through a plain function pointer
//   BM_InvokeWarm       the same module through Host::Invoke (handle, metrics aggregator on)
//   BM_InvokeAsync      BM_InvokeWarm/metrics:1 through InvokeAsync (inline, completion too)
//   BM_InvokeWarmHybrid BM_InvokeWarm under the hybrid keep-alive policy
//   BM_InvokeWarmCanary BM_InvokeWarm with half the calls routed to a canary
//   BM_InvokeWarmBudget BM_InvokeWarm under a host memory budget (which warm calls never touch)
//   BM_HostServiceBytes  one bytes-form host service call per call, in process and isolated,
//                       against the same call without it
//   BM_InvokeWarmContext  metadata_reader through Host::Invoke with a CallContext (4 metadata
//                       pairs, one read by the module), metrics on: the bar is at most 100 ns
//                       over BM_DirectCall
//   BM_DlopenFloor      bare dlopen + dlsym + init + first call of a fresh copy of the module
//   BM_SealedDlopenFloor  the same from a sealed in-memory copy of the loaded part, the least a
//                       loader that runs only the bytes it sealed must do
//   BM_ColdStart        Register + first Invoke through the Host of a fresh copy
//   BM_DlopenFloor/size:N, BM_ColdStart/size:N   the same with N MiB of extra code, which a
//                       cold start copies into memory and checks before dlopen
//   BM_InvokeWarmThreads  ~1 us handler from 1 and 2 threads (items_per_second)
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "benchmark/benchmark.h"
#include "benchmarks/bench_data_dir.h"
#include "fnhost/abi.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"

namespace fnhost {
namespace {

std::string TestModule(const std::string& name) {
  return std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so";
}

// Fresh copies of a module, so every dlopen maps a new object as a real cold start does.
class FreshCopies {
 public:
  explicit FreshCopies(const std::string& module) : module_(module) {
    dir_ = bench::BenchDataDir() / ("copies-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~FreshCopies() { std::filesystem::remove_all(dir_); }
  std::string Next() {
    std::string path = dir_ / ("copy" + std::to_string(counter_++) + ".so");
    std::filesystem::copy_file(module_, path);
    return path;
  }

 private:
  std::string module_;
  std::filesystem::path dir_;
  int counter_ = 0;
};

std::unique_ptr<Host> NewHost(MetricsSink* sink, double memory_budget_mb = 0) {
  HostOptions options;
  options.metrics_sink = sink;
  options.memory_budget_mb = memory_budget_mb;
  return *HostForTesting::Create(options);
}

uint8_t* AllocateInto(void* data, size_t size) {
  auto* response = static_cast<std::string*>(data);
  response->resize(size);
  return reinterpret_cast<uint8_t*>(response->data());
}
void IgnoreMessage(void*, const char*, size_t) {}

void BM_DirectCall(benchmark::State& state) {
  void* handle = ::dlopen(TestModule("noop").c_str(), RTLD_NOW | RTLD_LOCAL);
  auto entry = reinterpret_cast<fnhost_module_entry_fn>(::dlsym(handle, FNHOST_MODULE_ENTRY_SYMBOL));
  const fnhost_module_v1* table = entry(FNHOST_ABI_VERSION);
  std::string response;
  fnhost_host_output output{&response, &AllocateInto, &IgnoreMessage};
  fnhost_host_init_context context{"bench", nullptr, 0, {}, &output};
  fnhost_module_state* module_state = nullptr;
  table->state_create(&context, &module_state);
  fnhost_module_instance* instance = nullptr;
  table->instance_create(module_state, &output, &instance);
  const std::string request = "request";
  for (auto _ : state) {
    int32_t code = table->invoke(instance, reinterpret_cast<const uint8_t*>(request.data()),
                                 request.size(), &output);
    benchmark::DoNotOptimize(code);
  }
  table->instance_destroy(instance);
  table->state_destroy(module_state);
  ::dlclose(handle);
}
BENCHMARK(BM_DirectCall);

// Registers `spec` on `host` and calls it once with `request` (and `options`), so that an
// instance is warm: its handle, or nullopt with the benchmark skipped when either step failed.
std::optional<FunctionHandle> RegisterWarm(benchmark::State& state, Host& host,
                                           const FunctionSpec& spec, const std::string& request,
                                           const CallOptions& options = {}) {
  if (absl::Status registered = host.Register(spec); !registered.ok()) {
    state.SkipWithError(std::string(registered.message()).c_str());
    return std::nullopt;
  }
  FunctionHandle handle = *host.Lookup(spec.name);
  std::string response;
  if (absl::Status warm = host.Invoke(handle, request, &response, options); !warm.ok()) {
    state.SkipWithError(std::string(warm.message()).c_str());
    return std::nullopt;
  }
  return handle;
}

// The timed loop of the warm-call benchmarks.
void InvokeInLoop(benchmark::State& state, Host& host, FunctionHandle handle,
                  const std::string& request, const CallOptions& options = {}) {
  std::string response;
  for (auto _ : state) {
    absl::Status status = host.Invoke(handle, request, &response, options);
    benchmark::DoNotOptimize(status);
  }
}

FunctionSpec NoopSpec() {
  FunctionSpec spec;
  spec.name = "noop";
  spec.module_path = TestModule("noop");
  return spec;
}

void InvokeWarm(benchmark::State& state, bool with_metrics, KeepAliveOptions::Kind keep_alive,
                double memory_budget_mb = 0) {
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(with_metrics ? &metrics : nullptr, memory_budget_mb);
  FunctionSpec spec = NoopSpec();
  spec.pool.keep_alive.kind = keep_alive;
  const std::string request = "request";
  std::optional<FunctionHandle> handle = RegisterWarm(state, *host, spec, request);
  if (handle) InvokeInLoop(state, *host, *handle, request);
}
void BM_InvokeWarm(benchmark::State& state) {
  InvokeWarm(state, state.range(0) != 0, KeepAliveOptions::Kind::kFixed);
}

void BM_InvokeWarmContext(benchmark::State& state) {
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(&metrics);
  FunctionSpec spec;
  spec.name = "reader";
  spec.module_path = TestModule("metadata_reader");
  const Metadata metadata[] = {
      {"x-request-id", "9f1c"}, {"x-tenant", "acme"}, {"user", "ann"}, {"x-region", "eu-west"}};
  CallContext context;
  context.metadata = metadata;
  CallOptions options;
  options.context = &context;
  const std::string request = "request";
  std::optional<FunctionHandle> handle = RegisterWarm(state, *host, spec, request, options);
  if (handle) InvokeInLoop(state, *host, *handle, request, options);
}
BENCHMARK(BM_InvokeWarmContext);

// A host service's bytes form, in process and isolated: context_probe calls an `echo` service
// once per call ("host m x"), against the same call without it ("id"). The difference is what
// one CallHost costs (under isolation, a round trip over the worker's channel).
void BM_HostServiceBytes(benchmark::State& state) {
  const bool isolated = state.range(0) != 0;
  const bool host_call = state.range(1) != 0;
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(&metrics);
  ServiceSpec echo;
  echo.name = "echo";
  echo.bytes = [](const ServiceCall& call, std::string* response) {
    response->assign(call.request);
    return absl::OkStatus();
  };
  host->RegisterService(echo).IgnoreError();
  FunctionSpec spec;
  spec.name = "probe";
  spec.module_path = TestModule("context_probe");
  spec.init_config = "echo";
  spec.services = {"echo"};
  if (isolated) spec.isolation.mode = IsolationOptions::Mode::kProcess;
  const std::string request = host_call ? "host m x" : "id";
  std::optional<FunctionHandle> handle = RegisterWarm(state, *host, spec, request);
  if (handle) InvokeInLoop(state, *host, *handle, request);
}
BENCHMARK(BM_HostServiceBytes)->ArgNames({"isolated", "host_call"})->ArgsProduct({{0, 1}, {0, 1}});
BENCHMARK(BM_InvokeWarm)->ArgName("metrics")->Arg(1)->Arg(0);

// BM_InvokeWarm/metrics:1 through Host::InvokeAsync: the warm call runs inline and its
// completion with it. The bar: at most 30 ns above BM_InvokeWarm/metrics:1.
void BM_InvokeAsync(benchmark::State& state) {
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(&metrics);
  const std::string request = "request";
  std::optional<FunctionHandle> handle = RegisterWarm(state, *host, NoopSpec(), request);
  if (!handle) return;
  std::string response;
  int64_t completed = 0;
  for (auto _ : state) {
    host->InvokeAsync(*handle, request, &response,
                      [&completed](absl::Status status, std::string*) {
                        completed += status.ok();
                      });
  }
  if (completed != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a warm call did not complete inline");
  }
}
BENCHMARK(BM_InvokeAsync);

// BM_InvokeWarm/metrics:1 under the hybrid keep-alive policy, which records every idle time in
// its histograms: the policy's cost per call, against BM_InvokeWarm/metrics:1.
void BM_InvokeWarmHybrid(benchmark::State& state) {
  InvokeWarm(state, /*with_metrics=*/true, KeepAliveOptions::Kind::kHybrid);
}
BENCHMARK(BM_InvokeWarmHybrid);

// BM_InvokeWarm/metrics:1 on a host with a memory budget: a warm call takes an idle instance and
// gives it back without touching the budget, so this costs what BM_InvokeWarm/metrics:1 does.
void BM_InvokeWarmBudget(benchmark::State& state) {
  InvokeWarm(state, /*with_metrics=*/true, KeepAliveOptions::Kind::kFixed,
             /*memory_budget_mb=*/1024);
}
BENCHMARK(BM_InvokeWarmBudget);

// BM_InvokeWarm/metrics:1 with a canary (a private copy of the same module) taking half the
// calls: the cost of routing, against BM_InvokeWarm/metrics:1.
void BM_InvokeWarmCanary(benchmark::State& state) {
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(&metrics);
  host->Register(NoopSpec()).IgnoreError();
  host->SetCanary("noop", TestModule("noop"), 0.5).IgnoreError();
  FunctionHandle handle = *host->Lookup("noop");
  std::string response;
  const std::string request = "request";
  host->Invoke(handle, request, &response).IgnoreError();
  host->Invoke(handle, request, &response).IgnoreError();
  InvokeInLoop(state, *host, handle, request);
}
BENCHMARK(BM_InvokeWarmCanary);

// The noop module with `mib` MiB of extra code (benchmarks/bulk_code.cc).
std::string BulkModule(int64_t mib) {
  return std::string(FNHOST_BENCH_MODULE_DIR) + "/bulk" + std::to_string(mib) + ".so";
}

// The bytes a dynamic loader maps: up to the end of the last PT_LOAD segment.
size_t LoadedBytes(const std::string& bytes) {
  Elf64_Ehdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  size_t end = 0;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    std::memcpy(&segment, bytes.data() + header.e_phoff + i * sizeof(segment), sizeof(segment));
    if (segment.p_type == PT_LOAD) end = std::max<size_t>(end, segment.p_offset + segment.p_filesz);
  }
  return end;
}

// How a floor maps a fresh copy of the module: returns the dlopen handle, and in `close_after`
// a descriptor to close once the object is unloaded (-1 for none).
using Opener = void* (*)(const std::string& path, int* close_after);

void* OpenPlain(const std::string& path, int* close_after) {
  *close_after = -1;
  return ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
}

// As a loader that runs only bytes it has sealed: the loaded part of the file read into a
// sealed memfd, dlopened through /proc/self/fd. No checks: the copy's own cost.
void* OpenSealed(const std::string& path, int* close_after) {
  *close_after = -1;
  const int file = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string bytes(16384, '\0');
  bytes.resize(static_cast<size_t>(std::max<ssize_t>(0, ::pread(file, bytes.data(), 16384, 0))));
  const size_t loaded = LoadedBytes(bytes);
  if (loaded > bytes.size()) {
    const size_t head = bytes.size();
    bytes.resize(loaded);
    if (::pread(file, bytes.data() + head, loaded - head, static_cast<off_t>(head)) < 0) {
      bytes.resize(head);
    }
  }
  ::close(file);
  const int copy = ::memfd_create("floor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (::write(copy, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    ::close(copy);
    return nullptr;
  }
  ::fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  *close_after = copy;
  return ::dlopen(("/proc/self/fd/" + std::to_string(copy)).c_str(), RTLD_NOW | RTLD_LOCAL);
}

// The floor of a cold start: what any host must do with a fresh module file, which is in the
// page cache as after a deploy (the copy is made outside the timing): map it as `open` does,
// then dlsym, init, one instance and the first call.
void Floor(benchmark::State& state, const std::string& module, Opener open) {
  FreshCopies copies(module);
  std::string response;
  fnhost_host_output output{&response, &AllocateInto, &IgnoreMessage};
  for (auto _ : state) {
    state.PauseTiming();
    std::string path = copies.Next();
    state.ResumeTiming();
    int close_after = -1;
    void* handle = open(path, &close_after);
    if (handle == nullptr) {
      state.SkipWithError(::dlerror());
      break;
    }
    auto entry =
        reinterpret_cast<fnhost_module_entry_fn>(::dlsym(handle, FNHOST_MODULE_ENTRY_SYMBOL));
    const fnhost_module_v1* table = entry(FNHOST_ABI_VERSION);
    fnhost_host_init_context context{"bench", nullptr, 0, {}, &output};
    fnhost_module_state* module_state = nullptr;
    table->state_create(&context, &module_state);
    fnhost_module_instance* instance = nullptr;
    table->instance_create(module_state, &output, &instance);
    table->invoke(instance, reinterpret_cast<const uint8_t*>("x"), 1, &output);
    state.PauseTiming();
    table->instance_destroy(instance);
    table->state_destroy(module_state);
    ::dlclose(handle);
    if (close_after >= 0) ::close(close_after);
    std::filesystem::remove(path);
    state.ResumeTiming();
  }
}
void DlopenFloor(benchmark::State& state, const std::string& module) {
  Floor(state, module, &OpenPlain);
}

void BM_SealedDlopenFloor(benchmark::State& state) {
  Floor(state, TestModule("noop"), &OpenSealed);
}
BENCHMARK(BM_SealedDlopenFloor)->Iterations(300);

void BM_DlopenFloor(benchmark::State& state) { DlopenFloor(state, TestModule("noop")); }
BENCHMARK(BM_DlopenFloor)->Iterations(300);
void BM_DlopenFloorSized(benchmark::State& state) {
  DlopenFloor(state, BulkModule(state.range(0)));
}
BENCHMARK(BM_DlopenFloorSized)->Name("BM_DlopenFloor")->ArgName("size")->Arg(4)->Arg(16)
    ->Iterations(30)->Unit(benchmark::kMicrosecond);

// Register + first Invoke through the Host: the file read into a sealed copy and checked,
// the copy dlopened, the ABI checked, init and the first call.
void ColdStart(benchmark::State& state, const std::string& module) {
  FreshCopies copies(module);
  MetricsAggregator metrics;
  std::unique_ptr<Host> host = NewHost(&metrics);
  int counter = 0;
  for (auto _ : state) {
    state.PauseTiming();
    FunctionSpec spec;
    spec.name = "f" + std::to_string(counter++);
    spec.module_path = copies.Next();
    state.ResumeTiming();
    host->Register(spec).IgnoreError();
    absl::StatusOr<std::string> reply = host->Invoke(spec.name, "x");
    benchmark::DoNotOptimize(reply);
    state.PauseTiming();
    if (!reply.ok()) state.SkipWithError(std::string(reply.status().message()).c_str());
    host->Unregister(spec.name).IgnoreError();
    std::filesystem::remove(spec.module_path);
    state.ResumeTiming();
  }
}
void BM_ColdStart(benchmark::State& state) { ColdStart(state, TestModule("noop")); }
BENCHMARK(BM_ColdStart)->Iterations(300);
void BM_ColdStartSized(benchmark::State& state) { ColdStart(state, BulkModule(state.range(0))); }
BENCHMARK(BM_ColdStartSized)->Name("BM_ColdStart")->ArgName("size")->Arg(4)->Arg(16)
    ->Iterations(30)->Unit(benchmark::kMicrosecond);

// A handler doing about 1 us of work (the slow test module spins for the requested micros).
void BM_InvokeWarmThreads(benchmark::State& state) {
  static std::unique_ptr<Host> host;
  static FunctionHandle handle;
  if (state.thread_index() == 0) {
    host = NewHost(nullptr);
    FunctionSpec spec;
    spec.name = "spin";
    spec.module_path = TestModule("slow");
    spec.pool.max_instances = 4;
    host->Register(spec).IgnoreError();
    host->PrewarmAndWait("spin", 4).IgnoreError();
    handle = *host->Lookup("spin");
  }
  std::string response;
  response.reserve(64);
  for (auto _ : state) {
    absl::Status status = host->Invoke(handle, "1", &response);
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    handle = FunctionHandle();
    host.reset();
  }
}
BENCHMARK(BM_InvokeWarmThreads)->Threads(1)->Threads(2)->UseRealTime();

// The floor of BM_InvokeWarmThreads: the same 1 us spin called directly, so that the machine's
// own scaling from 1 to 2 threads (shared cores, frequency) is measured in the same run.
void BM_SpinThreadsFloor(benchmark::State& state) {
  for (auto _ : state) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpinThreadsFloor)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace fnhost
