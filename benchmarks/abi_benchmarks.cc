// The module side of ABI 2 through the raw C ABI (no Host), each against its floor:
//   BM_AbiDirectCall         noop through its context-less invoke entry (the floor of the next)
//   BM_AbiInvokeContext      metadata_reader through invoke_with_context: the host's context
//                            filled for the call (4 metadata pairs) and one metadata read
//   BM_HostServiceTypedFloor 1000 chained direct calls of a C function
//   BM_HostServiceTyped      1000 chained calls of the same function as the typed form of a
//                            host service, from inside a module (typed_caller)
// The Host-level BM_InvokeWarm with a context comes with the host's integration of ABI 2.
#include <dlfcn.h>

#include <string>

#include "benchmark/benchmark.h"
#include "fnhost/abi.h"
#include "tests/modules/test_services.h"

namespace fnhost {
namespace {

constexpr int kTypedCallsPerInvoke = 1000;  // as in tests/modules/typed_caller.cc

#if defined(__clang__)
#define FNHOST_BENCH_NOT_INLINED __attribute__((noinline))
#else
#define FNHOST_BENCH_NOT_INLINED __attribute__((noinline, noipa))
#endif

FNHOST_BENCH_NOT_INLINED int64_t Add(void* data, int64_t a, int64_t b) {
  benchmark::DoNotOptimize(data);
  return a + b;
}

const fnhost_test_adder_v1 kAdder = {&Add};
int adder_data = 0;

uint8_t* AllocateInto(void* data, size_t size) {
  auto* response = static_cast<std::string*>(data);
  response->resize(size);
  return reinterpret_cast<uint8_t*>(response->data());
}
void IgnoreMessage(void*, const char*, size_t) {}

// Offers the typed "adder" to whoever asks, as an embedder's host would.
int32_t RequireAdder(void*, fnhost_module_bytes, uint32_t, uint32_t, fnhost_host_service* service,
                     fnhost_host_bytes*) {
  service->version = 1;
  service->id = 0;
  service->typed = &kAdder;
  service->typed_data = &adder_data;
  return FNHOST_STATUS_OK;
}

// One test module, loaded, with a state and an instance.
class Loaded {
 public:
  explicit Loaded(const std::string& name) {
    const std::string path = std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so";
    handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto entry = reinterpret_cast<fnhost_module_entry_fn>(
        ::dlsym(handle_, FNHOST_MODULE_ENTRY_SYMBOL));
    table_ = entry(FNHOST_ABI_VERSION);
    fnhost_host_init_context context{};
    context.function_name = "bench";
    context.error = &output_;
    context.struct_size = sizeof(context);
    context.require_service = &RequireAdder;
    ok_ = table_->state_create(&context, &state_) == FNHOST_STATUS_OK &&
          table_->instance_create(state_, &output_, &instance_) == FNHOST_STATUS_OK;
  }
  ~Loaded() {
    if (instance_ != nullptr) table_->instance_destroy(instance_);
    if (state_ != nullptr) table_->state_destroy(state_);
    ::dlclose(handle_);
  }

  bool ok() const { return ok_; }
  const fnhost_module& table() const { return *table_; }
  fnhost_module_instance* instance() const { return instance_; }
  fnhost_host_output* output() { return &output_; }

 private:
  void* handle_ = nullptr;
  const fnhost_module* table_ = nullptr;
  fnhost_module_state* state_ = nullptr;
  fnhost_module_instance* instance_ = nullptr;
  std::string response_;
  fnhost_host_output output_{&response_, &AllocateInto, &IgnoreMessage};
  bool ok_ = false;
};

const uint8_t* Bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

void BM_AbiDirectCall(benchmark::State& state) {
  Loaded noop("noop");
  if (!noop.ok()) return state.SkipWithError("noop did not start");
  const std::string request = "request";
  for (auto _ : state) {
    int32_t code = noop.table().invoke(noop.instance(), Bytes(request), request.size(),
                                       noop.output());
    benchmark::DoNotOptimize(code);
  }
}
BENCHMARK(BM_AbiDirectCall);

fnhost_host_bytes Lend(std::string_view s) { return {s.data(), s.size()}; }

void BM_AbiInvokeContext(benchmark::State& state) {
  Loaded reader("metadata_reader");
  if (!reader.ok()) return state.SkipWithError("metadata_reader did not start");
  const std::string request = "request";
  const fnhost_host_metadata metadata[] = {
      {Lend("x-request-id"), Lend("9f1c")},
      {Lend("x-tenant"), Lend("acme")},
      {Lend("user"), Lend("ann")},
      {Lend("x-region"), Lend("eu-west")},
  };
  const int32_t cancelled = 0;
  const std::string call_id = "call-1";
  for (auto _ : state) {
    // What a host fills for every call.
    fnhost_host_call_context context{
        .struct_size = sizeof(fnhost_host_call_context),
        .reserved = 0,
        .host_data = nullptr,
        .call_id = Lend(call_id),
        .deadline_ns = FNHOST_NO_DEADLINE,
        .cancelled = &cancelled,
        .request_metadata = metadata,
        .request_metadata_count = 4,
        .traceparent = {},
        .tracestate = {},
        .logger = {},
        .set_response_metadata = nullptr,
        .call_host = nullptr,
    };
    benchmark::DoNotOptimize(context);
    int32_t code = reader.table().invoke_with_context(reader.instance(), Bytes(request),
                                                      request.size(), reader.output(), &context);
    if (code != FNHOST_STATUS_OK) return state.SkipWithError("metadata_reader failed");
  }
}
BENCHMARK(BM_AbiInvokeContext);

void BM_HostServiceTypedFloor(benchmark::State& state) {
  for (auto _ : state) {
    int64_t value = 0;
    for (int i = 0; i < kTypedCallsPerInvoke; ++i) value = Add(&adder_data, value, i);
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations() * kTypedCallsPerInvoke);
}
BENCHMARK(BM_HostServiceTypedFloor);

void BM_HostServiceTyped(benchmark::State& state) {
  Loaded caller("typed_caller");
  if (!caller.ok()) return state.SkipWithError("typed_caller did not start");
  const std::string request;
  for (auto _ : state) {
    int32_t code = caller.table().invoke(caller.instance(), Bytes(request), 0, caller.output());
    benchmark::DoNotOptimize(code);
  }
  state.SetItemsProcessed(state.iterations() * kTypedCallsPerInvoke);
}
BENCHMARK(BM_HostServiceTyped);

}  // namespace
}  // namespace fnhost
