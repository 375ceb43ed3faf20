// Tests of the SDK's side of ABI 2 (fnhost/sdk/), driven through the raw C ABI by the harness:
// the call context's accessors, Invoke with and without a context, host services requested at
// init (errors, versions, forms) and used per call, and the state schema. The built-in
// services' clients: sdk_builtin_services_test.cc.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "fnhost/module.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/modules/test_services.h"
#include "tests/support/abi_harness.h"

namespace fnhost::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

int64_t MonotonicNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- The call context ------------------------------------------------------------------------

class CallContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = OpenTestModule("context_probe");
    ASSERT_NE(harness_, nullptr);
    ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness_));
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
  std::unique_ptr<AbiHarness> harness = OpenTestModule("hello");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->table().invoke_with_context, nullptr);
  EXPECT_FALSE(harness->abi().has_context());
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness));
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
    std::unique_ptr<AbiHarness> harness = OpenTestModule(module);
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
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness, "adder:1:typed"));
  EXPECT_EQ(harness->Invoke("add adder 2 40").response, "42");
  EXPECT_EQ(harness->Invoke("add adder -5 3").response, "-2");
  EXPECT_EQ(adder_data_.calls.load(), 2);
  EXPECT_THAT(harness->host().granted_requests(), ElementsAre("adder"));
}

TEST_F(ServicesTest, BytesFormThroughTheCallContext) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("service_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness, "echo:2:bytes"));
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
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness, "echo:1:bytes call:echo:upper:warm"));
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
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*in_process, "adder:1:any"));
  EXPECT_EQ(in_process->Invoke("about adder").response, "v1 typed=1 bytes=1");
  EXPECT_EQ(in_process->Invoke("add adder 1 1").response, "2");

  std::unique_ptr<AbiHarness> isolated = OpenWithServices("service_probe");
  ASSERT_NE(isolated, nullptr);
  isolated->host().set_typed_forms_available(false);
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*isolated, "adder:1:any"));
  EXPECT_EQ(isolated->Invoke("about adder").response, "v1 typed=0 bytes=1");
  EXPECT_EQ(isolated->Invoke("add adder 1 1").code, FNHOST_STATUS_FAILED_PRECONDITION);
}

TEST_F(ServicesTest, EchoServiceFromTheContextProbe) {
  std::unique_ptr<AbiHarness> harness = OpenWithServices("context_probe");
  ASSERT_NE(harness, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness, "echo"));
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

// ---- State schema ------------------------------------------------------------------------------

TEST(StateSchemaTest, TheTableCarriesTheStatesSchema) {
  std::unique_ptr<AbiHarness> schema = OpenTestModule("schema_counter");
  ASSERT_NE(schema, nullptr);
  EXPECT_EQ(schema->abi().state_schema(), 7u);
  EXPECT_NE(schema->table().flags & FNHOST_MODULE_FLAG_SNAPSHOT, 0u);
  std::unique_ptr<AbiHarness> none = OpenTestModule("snapshot_counter");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->abi().state_schema(), 0u);
}

TEST(StateSchemaTest, RestoreKnowsAReloadFromASnapshotFile) {
  std::unique_ptr<AbiHarness> old_version = OpenTestModule("schema_counter");
  ASSERT_NE(old_version, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*old_version, "41"));
  EXPECT_EQ(old_version->Invoke("").response, "origin=create count=41");
  Sections sections;
  ASSERT_TRUE(old_version->Snapshot(&sections).ok());

  std::unique_ptr<AbiHarness> reloaded = OpenTestModule("schema_counter");
  ASSERT_NE(reloaded, nullptr);
  ASSERT_TRUE(reloaded->Restore(sections, "", FNHOST_INIT_FLAG_RELOAD).ok());
  ASSERT_TRUE(reloaded->CreateInstance().ok());
  EXPECT_EQ(reloaded->Invoke("").response, "origin=reload count=41");

  std::unique_ptr<AbiHarness> restored = OpenTestModule("schema_counter");
  ASSERT_NE(restored, nullptr);
  ASSERT_TRUE(restored->Restore(sections).ok());
  ASSERT_TRUE(restored->CreateInstance().ok());
  EXPECT_EQ(restored->Invoke("").response, "origin=restore count=41");
}

}  // namespace
}  // namespace fnhost::testing
