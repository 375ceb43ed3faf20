// Tests of the SDK's side of ABI 2 (fnhost/sdk/), driven through the raw C ABI by the harness:
// the call context's accessors, Invoke with and without a context, host services requested at
// init (errors, versions, forms) and used per call, the built-in services' clients in both
// forms, and the state schema.
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/builtin_services.h"
#include "fnhost/module.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/modules/test_services.h"
#include "tests/support/abi_harness.h"

namespace fnhost::testing {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::unique_ptr<AbiHarness> Open(const std::string& name) {
  std::string error;
  std::unique_ptr<AbiHarness> harness =
      AbiHarness::Open(std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so", &error);
  EXPECT_NE(harness, nullptr) << error;
  return harness;
}

// Builds the state from `init_config` and one instance; fails the test (fatally, at the call
// site's ASSERT_NO_FATAL_FAILURE) when either step fails.
void Ready(AbiHarness& harness, const std::string& init_config = "") {
  AbiResult state = harness.CreateState(init_config);
  ASSERT_TRUE(state.ok()) << ::testing::PrintToString(state);
  AbiResult instance = harness.CreateInstance();
  ASSERT_TRUE(instance.ok()) << ::testing::PrintToString(instance);
}

int64_t MonotonicNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- The call context ------------------------------------------------------------------------

class CallContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = Open("context_probe");
    ASSERT_NE(harness_, nullptr);
    ASSERT_NO_FATAL_FAILURE(Ready(*harness_));
  }
  AbiResult Call(const std::string& request, const CallOptions& options = CallOptions()) {
    return harness_->Invoke(request, options);
  }

  std::unique_ptr<AbiHarness> harness_;
};

TEST_F(CallContextTest, TheTableOffersBothEntries) {
  const fnhost_module& table = harness_->table();
  EXPECT_EQ(table.abi_version, 2u);
  EXPECT_EQ(table.sdk_version, FNHOST_SDK_VERSION);
  EXPECT_EQ(table.struct_size, sizeof(fnhost_module));
  EXPECT_NE(table.invoke_with_context, nullptr);
  EXPECT_NE(table.invoke, nullptr) << "the SDK keeps a context-less entry";
  EXPECT_TRUE(harness_->abi().has_context());
}

TEST_F(CallContextTest, MetadataLookupIgnoresCaseAndFindsTheFirstValue) {
  CallOptions options;
  options.metadata = {{"X-User", "ann"}, {"x-user", "bob"}, {"Region", "eu-west"}};
  EXPECT_EQ(Call("meta x-user", options).response, "ann");
  EXPECT_EQ(Call("meta X-USER", options).response, "ann");
  EXPECT_EQ(Call("meta region", options).response, "eu-west");
  EXPECT_EQ(Call("meta x-use", options).response, "(absent)");
  EXPECT_EQ(Call("meta missing", options).response, "(absent)");
}

TEST_F(CallContextTest, MetadataIterationKeepsTheCallersOrderWithLowerCaseKeys) {
  CallOptions options;
  options.metadata = {{"X-User", "ann"}, {"x-user", "bob"}, {"Region", ""}};
  EXPECT_EQ(Call("list", options).response, "x-user=ann;x-user=bob;region=");
  EXPECT_EQ(Call("list").response, "");
  EXPECT_EQ(Call("meta anything").response, "(absent)");
}

TEST_F(CallContextTest, Deadline) {
  EXPECT_EQ(Call("deadline").response, "none");
  CallOptions passed;
  passed.deadline_ns = MonotonicNowNanos() - 1'000'000'000;
  EXPECT_EQ(Call("deadline", passed).response, "passed");
  CallOptions ahead;
  ahead.deadline_ns = MonotonicNowNanos() + 600'000'000'000;
  EXPECT_EQ(Call("deadline", ahead).response, "ahead");
}

TEST_F(CallContextTest, CancelledFlag) {
  int32_t flag = 0;
  CallOptions options;
  options.cancelled = &flag;
  EXPECT_EQ(Call("cancelled", options).response, "no");
  __atomic_store_n(&flag, 1, __ATOMIC_RELAXED);
  EXPECT_EQ(Call("cancelled", options).response, "yes");
  EXPECT_EQ(Call("cancelled").response, "no");
}

// The module polls the flag while another thread sets it: the call ends CANCELLED, well before
// its deadline (the bound of the spin should the flag never be seen).
TEST_F(CallContextTest, CancelledFlagSetWhileTheCallRunsEndsIt) {
  int32_t flag = 0;
  CallOptions options;
  options.cancelled = &flag;
  options.deadline_ns = MonotonicNowNanos() + 60'000'000'000;
  std::thread canceller([&] { __atomic_store_n(&flag, 1, __ATOMIC_RELAXED); });
  AbiResult result = Call("spin", options);
  canceller.join();
  EXPECT_EQ(result.code, FNHOST_STATUS_CANCELLED) << ::testing::PrintToString(result);
  EXPECT_EQ(result.message, "spin: cancelled");
}

TEST_F(CallContextTest, SpinEndsAtThePassedDeadline) {
  CallOptions options;
  options.deadline_ns = MonotonicNowNanos() - 1;
  AbiResult result = Call("spin", options);
  EXPECT_EQ(result.code, FNHOST_STATUS_DEADLINE_EXCEEDED) << ::testing::PrintToString(result);
}

TEST_F(CallContextTest, TraceContextAndCallId) {
  CallOptions options;
  options.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  options.tracestate = "vendor=opaque";
  options.call_id = "call-77";
  EXPECT_EQ(Call("trace", options).response,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01|vendor=opaque");
  EXPECT_EQ(Call("trace").response, "|");
  EXPECT_EQ(Call("id", options).response, "call-77");
}

TEST_F(CallContextTest, ResponseMetadataIsSetLowerCased) {
  AbiResult result = Call("set X-Result done");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result);
  EXPECT_THAT(result.response_metadata, ElementsAre(Pair("x-result", "done")));
  EXPECT_THAT(Call("id").response_metadata, IsEmpty()) << "metadata belongs to one call";
}

TEST_F(CallContextTest, ResponseMetadataWithABadKeyIsRefused) {
  AbiResult result = Call("set bad/key value");
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(result.message, "response metadata 'bad/key' was refused by the host");
  EXPECT_THAT(result.response_metadata, IsEmpty());
}

TEST_F(CallContextTest, LogLinesCarryTheCallId) {
  CallOptions options;
  options.call_id = "call-9";
  ASSERT_EQ(Call("log hello there", options).response, "logged");
  EXPECT_THAT(harness_->logs(),
              ElementsAre(AllOf(Field(&LogLine::level, FNHOST_LOG_INFO),
                                Field(&LogLine::message, "hello there"),
                                Field(&LogLine::call_id, "call-9"))));
}

TEST_F(CallContextTest, ExceptionInInvokeWithAContextBecomesInternal) {
  AbiResult thrown = Call("throw");
  EXPECT_EQ(thrown.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(thrown.message, "Invoke threw: thrown with a context");
  EXPECT_THAT(thrown.response, IsEmpty());
  CallOptions options;
  options.call_id = "after";
  EXPECT_EQ(Call("id", options).response, "after") << "the instance keeps serving";
}

// A host that calls the context-less entry (one that knows no context) still gets answers:
// the SDK gives the Instance an empty context.
TEST_F(CallContextTest, TheContextlessEntryGivesAnEmptyContext) {
  EXPECT_EQ(harness_->InvokeWithoutContext("meta user").response, "(absent)");
  EXPECT_EQ(harness_->InvokeWithoutContext("deadline").response, "none");
  EXPECT_EQ(harness_->InvokeWithoutContext("cancelled").response, "no");
  EXPECT_EQ(harness_->InvokeWithoutContext("trace").response, "|");
  EXPECT_EQ(harness_->InvokeWithoutContext("log nowhere").response, "logged");
  EXPECT_THAT(harness_->logs(), IsEmpty());
  AbiResult set = harness_->InvokeWithoutContext("set key value");
  EXPECT_EQ(set.code, FNHOST_STATUS_UNAVAILABLE);
  AbiResult host = harness_->InvokeWithoutContext("host upper x");
  EXPECT_EQ(host.code, FNHOST_STATUS_UNAVAILABLE);
  EXPECT_THAT(host.message, HasSubstr("this host offers no host services here"));
}

// A module written against SDK 1 (two-argument Invoke) asks for no context and still works.
TEST(SdkInvokeFormsTest, TwoArgumentInvokeHasNoContextEntry) {
  std::unique_ptr<AbiHarness> harness = Open("hello");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->table().invoke_with_context, nullptr);
  EXPECT_FALSE(harness->abi().has_context());
  ASSERT_NO_FATAL_FAILURE(Ready(*harness));
  CallOptions options;
  options.metadata = {{"user", "ann"}};
  EXPECT_EQ(harness->Invoke("you", options).response, "hello, you");
}

// ---- Host services ---------------------------------------------------------------------------

struct AdderData {
  std::atomic<int> calls{0};
};

int64_t Add(void* data, int64_t a, int64_t b) {
  static_cast<AdderData*>(data)->calls.fetch_add(1, std::memory_order_relaxed);
  return a + b;
}

const fnhost_test_adder_v1 kAdder = {&Add};

int32_t Echo(std::string_view method, std::string_view request, std::string* response) {
  if (method == "upper") {
    response->assign(request);
    for (char& c : *response) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return FNHOST_STATUS_OK;
  }
  if (method == "fail") {
    *response = "nothing here";
    return FNHOST_STATUS_NOT_FOUND;
  }
  *response = "no method '" + std::string(method) + "'";
  return FNHOST_STATUS_UNIMPLEMENTED;
}

class ServicesTest : public ::testing::Test {
 protected:
  // "adder" (typed and bytes, version 1), "echo" (bytes, version 3), "typed_only" (typed),
  // "secret" (bytes, not granted).
  std::unique_ptr<AbiHarness> OpenWithServices(const std::string& module) {
    std::unique_ptr<AbiHarness> harness = Open(module);
    if (harness == nullptr) return nullptr;
    harness->host().AddService({.name = "adder", .typed = &kAdder, .typed_data = &adder_data_,
                                .bytes = &Echo});
    harness->host().AddService({.name = "echo", .version = 3, .bytes = &Echo});
    harness->host().AddService({.name = "typed_only", .typed = &kAdder,
                                .typed_data = &adder_data_});
    harness->host().AddService({.name = "secret", .granted = false, .bytes = &Echo});
    return harness;
  }

  AdderData adder_data_;
};

TEST_F(ServicesTest, ErrorsAtInitNameTheServiceAndTheCause) {
  struct Case {
    const char* init_config;
    int32_t code;
    const char* message;
    bool isolated;
  };
  const Case cases[] = {
      {"missing:1:any", FNHOST_STATUS_NOT_FOUND,
       "service 'missing' is not offered by this host", false},
      {"secret:1:bytes", FNHOST_STATUS_PERMISSION_DENIED,
       "service 'secret' is not granted to function 'harness'", false},
      {"echo:4:bytes", FNHOST_STATUS_FAILED_PRECONDITION,
       "service 'echo' is version 3; the module requires version 4 or later", false},
      {"echo:1:typed", FNHOST_STATUS_FAILED_PRECONDITION, "service 'echo' has no typed form",
       false},
      {"typed_only:1:bytes", FNHOST_STATUS_FAILED_PRECONDITION,
       "service 'typed_only' has no bytes form", false},
      {"adder:1:typed", FNHOST_STATUS_FAILED_PRECONDITION,
       "service 'adder' has no typed form under process isolation; use its bytes form", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.init_config);
    std::unique_ptr<AbiHarness> harness = OpenWithServices("service_probe");
    ASSERT_NE(harness, nullptr);
    harness->host().set_typed_forms_available(!c.isolated);
    AbiResult result = harness->CreateState(c.init_config);
    EXPECT_EQ(result.code, c.code);
    EXPECT_EQ(result.message, c.message);
    EXPECT_EQ(harness->CreateInstance().code, FNHOST_STATUS_FAILED_PRECONDITION)
        << "no state may exist after a failed init";
  }
}

TEST_F(ServicesTest, TypedFormIsCalledDirectlyWithTheHostsPointer) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("service_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*harness, "adder:1:typed"));
  EXPECT_EQ(harness->Invoke("add adder 2 40").response, "42");
  EXPECT_EQ(harness->Invoke("add adder -5 3").response, "-2");
  EXPECT_EQ(adder_data_.calls.load(), 2);
  EXPECT_THAT(harness->host().granted_requests(), ElementsAre("adder"));
}

TEST_F(ServicesTest, BytesFormThroughTheCallContext) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("service_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*harness, "echo:2:bytes"));
  EXPECT_EQ(harness->Invoke("bytes echo upper shout").response, "SHOUT");
  AbiResult failed = harness->Invoke("bytes echo fail x");
  EXPECT_EQ(failed.code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(failed.message, "service 'echo' method 'fail': nothing here");
  AbiResult unknown = harness->Invoke("bytes echo nope x");
  EXPECT_EQ(unknown.code, FNHOST_STATUS_UNIMPLEMENTED);
  EXPECT_EQ(unknown.message, "service 'echo' method 'nope': no method 'nope'");
}

TEST_F(ServicesTest, BytesFormAtInit) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("service_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*harness, "echo:1:bytes call:echo:upper:warm"));
  EXPECT_EQ(harness->Invoke("initcall").response, "WARM");

  std::unique_ptr<AbiHarness> failing = OpenWithServices("service_probe");
  ASSERT_NE(failing, nullptr);
  AbiResult result = failing->CreateState("echo:1:bytes call:echo:fail:x");
  EXPECT_EQ(result.code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(result.message, "service 'echo' method 'fail': nothing here");
}

TEST_F(ServicesTest, AnyFormTakesWhatTheHostHas) {
  std::unique_ptr<AbiHarness> in_process = OpenWithServices("service_probe");
  ASSERT_NE(in_process, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*in_process, "adder:1:any"));
  EXPECT_EQ(in_process->Invoke("about adder").response, "v1 typed=1 bytes=1");
  EXPECT_EQ(in_process->Invoke("add adder 1 1").response, "2");

  std::unique_ptr<AbiHarness> isolated = OpenWithServices("service_probe");
  ASSERT_NE(isolated, nullptr);
  isolated->host().set_typed_forms_available(false);
  ASSERT_NO_FATAL_FAILURE(Ready(*isolated, "adder:1:any"));
  EXPECT_EQ(isolated->Invoke("about adder").response, "v1 typed=0 bytes=1");
  EXPECT_EQ(isolated->Invoke("add adder 1 1").code, FNHOST_STATUS_FAILED_PRECONDITION);
}

TEST_F(ServicesTest, EchoServiceFromTheContextProbe) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("context_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*harness, "echo"));
  EXPECT_EQ(harness->Invoke("host upper abc").response, "ABC");
}

// The SDK against an init context without the fields of ABI 2 (struct_size 0, as a host
// integration that has not filled them in gives): a clear error, never a call through NULL.
TEST(SdkInitContextTest, HostWithoutServicesIsUnimplemented) {
  fnhost_host_init_context raw{};
  raw.function_name = "f";
  sdk::InitContext context(&raw);
  sdk::StatusOr<sdk::Service> service = context.RequireService("world", 1);
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.status().code(), sdk::StatusCode::kUnimplemented);
  EXPECT_EQ(service.status().message(),
            "service 'world' is not available: this host offers no services");
  EXPECT_FALSE(context.reloading());
  EXPECT_EQ(context.CallHost(sdk::Service(), "m", "r").status().code(),
            sdk::StatusCode::kUnavailable);
}

// ---- The built-in services' clients, in both forms -------------------------------------------

// A host's metrics and kv services, in both forms over the same records.
class FakeBuiltins {
 public:
  struct Metric {
    uint32_t kind;
    std::string name;
    std::string help;
    std::vector<double> bounds;
    int64_t value = 0;
    std::vector<double> observations;
  };

  static const fnhost_host_metrics_v1 kMetricsTable;
  static const fnhost_host_kv_v1 kKvTable;

  std::mutex mu;
  std::vector<Metric> metrics;  // id = index + 1
  std::map<std::string, std::string> kv;
  int typed_calls = 0;
  int bytes_calls = 0;

  void Offer(HarnessHost& host, bool grant_metrics = true) {
    host.AddService({.name = FNHOST_METRICS_SERVICE, .granted = grant_metrics,
                     .typed = &kMetricsTable, .typed_data = this,
                     .bytes = [this](std::string_view m, std::string_view r, std::string* out) {
                       return MetricsBytes(m, r, out);
                     }});
    host.AddService({.name = FNHOST_KV_SERVICE, .typed = &kKvTable, .typed_data = this,
                     .bytes = [this](std::string_view m, std::string_view r, std::string* out) {
                       return KvBytes(m, r, out);
                     }});
  }

  Metric* Find(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    for (Metric& metric : metrics) {
      if (metric.name == name) return &metric;
    }
    return nullptr;
  }

 private:
  static FakeBuiltins* Self(void* data) { return static_cast<FakeBuiltins*>(data); }

  int32_t Define(uint32_t kind, std::string_view name, std::string_view help,
                 std::vector<double> bounds, uint32_t* id) {
    for (size_t i = 0; i < metrics.size(); ++i) {
      if (metrics[i].name != name) continue;
      if (metrics[i].kind != kind) return FNHOST_STATUS_ALREADY_EXISTS;
      *id = static_cast<uint32_t>(i + 1);
      return FNHOST_STATUS_OK;
    }
    metrics.push_back({kind, std::string(name), std::string(help), std::move(bounds)});
    *id = static_cast<uint32_t>(metrics.size());
    return FNHOST_STATUS_OK;
  }
  Metric* At(uint32_t id) { return id == 0 || id > metrics.size() ? nullptr : &metrics[id - 1]; }
  int32_t Bump(uint32_t id, uint32_t kind, int64_t delta, bool set) {
    Metric* metric = At(id);
    if (metric == nullptr) return FNHOST_STATUS_NOT_FOUND;
    if (metric->kind != kind && !(kind == FNHOST_METRIC_COUNTER && !set &&
                                  metric->kind == FNHOST_METRIC_GAUGE)) {
      return FNHOST_STATUS_INVALID_ARGUMENT;
    }
    metric->value = set ? delta : metric->value + delta;
    return FNHOST_STATUS_OK;
  }
  int32_t Record(uint32_t id, double value) {
    Metric* metric = At(id);
    if (metric == nullptr) return FNHOST_STATUS_NOT_FOUND;
    if (metric->kind != FNHOST_METRIC_HISTOGRAM) return FNHOST_STATUS_INVALID_ARGUMENT;
    metric->observations.push_back(value);
    return FNHOST_STATUS_OK;
  }

  // Typed form.
  static int32_t TypedDefine(void* data, uint32_t kind, fnhost_module_bytes name,
                             fnhost_module_bytes help, const double* bounds, size_t count,
                             uint32_t* id) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Define(kind, {name.data, name.size}, {help.data, help.size},
                              std::vector<double>(bounds, bounds + count), id);
  }
  static int32_t TypedAdd(void* data, uint32_t id, int64_t delta) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Bump(id, FNHOST_METRIC_COUNTER, delta, false);
  }
  static int32_t TypedSet(void* data, uint32_t id, int64_t value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Bump(id, FNHOST_METRIC_GAUGE, value, true);
  }
  static int32_t TypedRecord(void* data, uint32_t id, double value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Record(id, value);
  }
  static int32_t TypedGet(void* data, fnhost_module_bytes key, char* value, size_t capacity,
                          size_t* size) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    auto it = Self(data)->kv.find(std::string(key.data, key.size));
    if (it == Self(data)->kv.end()) return FNHOST_STATUS_NOT_FOUND;
    *size = it->second.size();
    if (capacity < *size) return FNHOST_STATUS_OUT_OF_RANGE;
    std::memcpy(value, it->second.data(), *size);
    return FNHOST_STATUS_OK;
  }
  static int32_t TypedSetValue(void* data, fnhost_module_bytes key, fnhost_module_bytes value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    Self(data)->kv[std::string(key.data, key.size)] = std::string(value.data, value.size);
    return FNHOST_STATUS_OK;
  }
  static int32_t TypedErase(void* data, fnhost_module_bytes key) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->kv.erase(std::string(key.data, key.size)) == 1 ? FNHOST_STATUS_OK
                                                                       : FNHOST_STATUS_NOT_FOUND;
  }

  // Bytes form, decoding builtin_services.h's little-endian messages.
  template <typename T>
  static bool Take(std::string_view& bytes, T* value) {
    if (bytes.size() < sizeof(T)) return false;
    std::memcpy(value, bytes.data(), sizeof(T));
    bytes.remove_prefix(sizeof(T));
    return true;
  }

  int32_t MetricsBytes(std::string_view method, std::string_view request, std::string* out) {
    std::lock_guard<std::mutex> lock(mu);
    ++bytes_calls;
    uint32_t id = 0;
    if (method == "define") {
      uint32_t kind = 0, count = 0, name_size = 0;
      std::vector<double> bounds;
      bool ok = Take(request, &kind) && Take(request, &count);
      for (uint32_t i = 0; ok && i < count; ++i) ok = Take(request, &bounds.emplace_back());
      ok = ok && Take(request, &name_size) && name_size <= request.size();
      if (!ok) {
        *out = "malformed define";
        return FNHOST_STATUS_INVALID_ARGUMENT;
      }
      int32_t code = Define(kind, request.substr(0, name_size), request.substr(name_size),
                            std::move(bounds), &id);
      out->assign(reinterpret_cast<const char*>(&id), sizeof(id));
      return code;
    }
    int64_t integer = 0;
    double real = 0;
    if (method == "record" && Take(request, &id) && Take(request, &real)) return Record(id, real);
    if (method == "add" && Take(request, &id) && Take(request, &integer)) {
      return Bump(id, FNHOST_METRIC_COUNTER, integer, false);
    }
    if (method == "set" && Take(request, &id) && Take(request, &integer)) {
      return Bump(id, FNHOST_METRIC_GAUGE, integer, true);
    }
    *out = "malformed " + std::string(method);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }

  int32_t KvBytes(std::string_view method, std::string_view request, std::string* out) {
    std::lock_guard<std::mutex> lock(mu);
    ++bytes_calls;
    if (method == "get") {
      auto it = kv.find(std::string(request));
      if (it == kv.end()) {
        *out = "no key '" + std::string(request) + "'";
        return FNHOST_STATUS_NOT_FOUND;
      }
      *out = it->second;
      return FNHOST_STATUS_OK;
    }
    if (method == "erase") {
      return kv.erase(std::string(request)) == 1 ? FNHOST_STATUS_OK : FNHOST_STATUS_NOT_FOUND;
    }
    uint32_t key_size = 0;
    if (method == "set" && Take(request, &key_size) && key_size <= request.size()) {
      kv[std::string(request.substr(0, key_size))] = std::string(request.substr(key_size));
      return FNHOST_STATUS_OK;
    }
    *out = "malformed " + std::string(method);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
};

const fnhost_host_metrics_v1 FakeBuiltins::kMetricsTable = {&TypedDefine, &TypedAdd, &TypedSet,
                                                            &TypedRecord};
const fnhost_host_kv_v1 FakeBuiltins::kKvTable = {&TypedGet, &TypedSetValue, &TypedErase};

// Runs with the typed forms (in process) and without them (as under process isolation).
class BuiltinClientsTest : public ::testing::TestWithParam<bool> {
 protected:
  bool typed() const { return GetParam(); }
  void SetUp() override {
    harness_ = Open("builtin_probe");
    ASSERT_NE(harness_, nullptr);
    builtins_.Offer(harness_->host());
    harness_->host().set_typed_forms_available(typed());
    ASSERT_NO_FATAL_FAILURE(Ready(*harness_));
  }
  // Only the form under test was used.
  void ExpectOnlyTheFormUnderTest() {
    std::lock_guard<std::mutex> lock(builtins_.mu);
    EXPECT_GT(typed() ? builtins_.typed_calls : builtins_.bytes_calls, 0);
    EXPECT_EQ(typed() ? builtins_.bytes_calls : builtins_.typed_calls, 0);
  }

  FakeBuiltins builtins_;
  std::unique_ptr<AbiHarness> harness_;
};

TEST_P(BuiltinClientsTest, MetricsAreDefinedAtInitAndBumpedById) {
  EXPECT_EQ(harness_->Invoke("ids").response, "1,2,3");
  ASSERT_TRUE(harness_->Invoke("count 3").ok());
  ASSERT_TRUE(harness_->Invoke("count 4").ok());
  ASSERT_TRUE(harness_->Invoke("depth 9").ok());
  ASSERT_TRUE(harness_->Invoke("depth 5").ok());
  ASSERT_TRUE(harness_->Invoke("size 42").ok());

  FakeBuiltins::Metric* calls = builtins_.Find("calls");
  FakeBuiltins::Metric* depth = builtins_.Find("depth");
  FakeBuiltins::Metric* sizes = builtins_.Find("sizes");
  ASSERT_NE(calls, nullptr);
  ASSERT_NE(depth, nullptr);
  ASSERT_NE(sizes, nullptr);
  EXPECT_EQ(calls->kind, FNHOST_METRIC_COUNTER);
  EXPECT_EQ(calls->help, "Calls counted");
  EXPECT_EQ(calls->value, 7);
  EXPECT_EQ(depth->kind, FNHOST_METRIC_GAUGE);
  EXPECT_EQ(depth->value, 5);
  EXPECT_EQ(sizes->kind, FNHOST_METRIC_HISTOGRAM);
  EXPECT_EQ(sizes->bounds, (std::vector<double>{10, 100}));
  EXPECT_EQ(sizes->observations, std::vector<double>{42});
  ExpectOnlyTheFormUnderTest();
}

TEST_P(BuiltinClientsTest, KvSetGetErase) {
  ASSERT_TRUE(harness_->Invoke("put user:1 ann lee").ok());
  EXPECT_EQ(harness_->Invoke("get user:1").response, "ann lee");
  AbiResult missing = harness_->Invoke("get user:2");
  EXPECT_EQ(missing.code, FNHOST_STATUS_NOT_FOUND);
  ASSERT_TRUE(harness_->Invoke("erase user:1").ok());
  EXPECT_EQ(harness_->Invoke("get user:1").code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(harness_->Invoke("erase user:1").code, FNHOST_STATUS_NOT_FOUND);
  ExpectOnlyTheFormUnderTest();
}

// A value larger than the module's buffer (typed form: OUT_OF_RANGE, then a second read).
TEST_P(BuiltinClientsTest, KvGetOfALargeValue) {
  const std::string big(5000, 'v');
  {
    std::lock_guard<std::mutex> lock(builtins_.mu);
    builtins_.kv["big"] = big;
  }
  EXPECT_EQ(harness_->Invoke("get big").response, big);
  EXPECT_EQ(harness_->Invoke("get big").response, big) << "the second read reuses the buffer";
}

INSTANTIATE_TEST_SUITE_P(Forms, BuiltinClientsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Typed" : "Bytes";
                         });

TEST(BuiltinClientsErrorsTest, MetricsNotGrantedFailsTheInitNamingIt) {
  std::unique_ptr<AbiHarness> harness = Open("builtin_probe");
  ASSERT_NE(harness, nullptr);
  FakeBuiltins builtins;
  builtins.Offer(harness->host(), /*grant_metrics=*/false);
  AbiResult result = harness->CreateState("");
  EXPECT_EQ(result.code, FNHOST_STATUS_PERMISSION_DENIED);
  EXPECT_EQ(result.message, "service 'metrics' is not granted to function 'harness'");
}

// ---- State schema ------------------------------------------------------------------------------

TEST(StateSchemaTest, TheTableCarriesTheStatesSchema) {
  std::unique_ptr<AbiHarness> schema = Open("schema_counter");
  ASSERT_NE(schema, nullptr);
  EXPECT_EQ(schema->abi().state_schema(), 7u);
  EXPECT_NE(schema->table().flags & FNHOST_MODULE_FLAG_SNAPSHOT, 0u);
  std::unique_ptr<AbiHarness> none = Open("snapshot_counter");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->abi().state_schema(), 0u);
}

TEST(StateSchemaTest, RestoreKnowsAReloadFromASnapshotFile) {
  std::unique_ptr<AbiHarness> old_version = Open("schema_counter");
  ASSERT_NE(old_version, nullptr);
  ASSERT_NO_FATAL_FAILURE(Ready(*old_version, "41"));
  EXPECT_EQ(old_version->Invoke("").response, "origin=create count=41");
  Sections sections;
  ASSERT_TRUE(old_version->Snapshot(&sections).ok());

  std::unique_ptr<AbiHarness> reloaded = Open("schema_counter");
  ASSERT_NE(reloaded, nullptr);
  ASSERT_TRUE(reloaded->Restore(sections, "", FNHOST_INIT_FLAG_RELOAD).ok());
  ASSERT_TRUE(reloaded->CreateInstance().ok());
  EXPECT_EQ(reloaded->Invoke("").response, "origin=reload count=41");

  std::unique_ptr<AbiHarness> restored = Open("schema_counter");
  ASSERT_NE(restored, nullptr);
  ASSERT_TRUE(restored->Restore(sections).ok());
  ASSERT_TRUE(restored->CreateInstance().ok());
  EXPECT_EQ(restored->Invoke("").response, "origin=restore count=41");
}

}  // namespace
}  // namespace fnhost::testing
