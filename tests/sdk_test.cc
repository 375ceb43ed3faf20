// Tests of the module SDK (include/fnhost/module.h) at its C boundary, driven through the raw
// ABI by the test harness: exceptions and error statuses, the table the SDK builds, snapshot
// hooks, exported symbols; and the documented behaviour of the test modules that the host
// tests rely on.
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/module.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/abi_harness.h"

namespace fnhost::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A harness with a state built from `init_config` and one instance.
std::unique_ptr<AbiHarness> OpenReady(const std::string& name,
                                      const std::string& init_config = "") {
  std::unique_ptr<AbiHarness> harness = OpenTestModule(name);
  if (harness == nullptr) return nullptr;
  AbiResult state = harness->CreateState(init_config);
  EXPECT_TRUE(state.ok()) << ::testing::PrintToString(state);
  AbiResult instance = harness->CreateInstance();
  EXPECT_TRUE(instance.ok()) << ::testing::PrintToString(instance);
  return harness;
}

// ---- Exceptions and statuses at the boundary --------------------------------------------

TEST(SdkTest, ExceptionInStateCreateBecomesInternalWithItsText) {
  auto harness = OpenTestModule("init_throws");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->CreateState("");
  EXPECT_EQ(result.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(result.message, "State::Create threw: init threw on purpose");
  EXPECT_EQ(harness->CreateInstance().code, FNHOST_STATUS_FAILED_PRECONDITION)
      << "no state may exist after a failed create";
}

TEST(SdkTest, NonStandardExceptionInStateCreateBecomesInternal) {
  auto harness = OpenTestModule("throwing");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->CreateState("create:other");
  EXPECT_EQ(result.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(result.message, "State::Create threw a non-standard exception");
}

TEST(SdkTest, ExceptionInInstanceConstructorBecomesInternalWithItsText) {
  auto harness = OpenTestModule("throwing");
  ASSERT_NE(harness, nullptr);
  ASSERT_TRUE(harness->CreateState("instance:std").ok());
  AbiResult result = harness->CreateInstance();
  EXPECT_EQ(result.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(result.message, "Instance constructor threw: instance failed on purpose");
  EXPECT_EQ(harness->instance_count(), 0u);
}

TEST(SdkTest, NonStandardExceptionInInstanceConstructorBecomesInternal) {
  auto harness = OpenTestModule("throwing");
  ASSERT_NE(harness, nullptr);
  ASSERT_TRUE(harness->CreateState("instance:other").ok());
  AbiResult result = harness->CreateInstance();
  EXPECT_EQ(result.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(result.message, "Instance constructor threw a non-standard exception");
}

TEST(SdkTest, ExceptionInInvokeBecomesInternalAndTheInstanceKeepsServing) {
  auto harness = OpenReady("invoke_throws");
  ASSERT_NE(harness, nullptr);
  AbiResult first = harness->Invoke("first");
  EXPECT_EQ(first.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(first.message, "Invoke threw: boom: first");
  EXPECT_THAT(first.response, IsEmpty());
  AbiResult second = harness->Invoke("second");
  EXPECT_EQ(second.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(second.message, "Invoke threw: boom: second");
}

TEST(SdkTest, StandardAndNonStandardExceptionsInInvoke) {
  auto harness = OpenReady("throwing");
  ASSERT_NE(harness, nullptr);
  AbiResult standard = harness->Invoke("std");
  EXPECT_EQ(standard.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(standard.message, "Invoke threw: invoke failed on purpose");
  AbiResult other = harness->Invoke("other");
  EXPECT_EQ(other.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(other.message, "Invoke threw a non-standard exception");
  AbiResult echo = harness->Invoke("still here");
  ASSERT_TRUE(echo.ok()) << ::testing::PrintToString(echo);
  EXPECT_EQ(echo.response, "still here");
}

TEST(SdkTest, ReturnedErrorFromInvokeKeepsCodeAndMessage) {
  auto harness = OpenReady("returns_error");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->Invoke("xyz");
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(result.message, "bad request: xyz");
  EXPECT_THAT(result.response, IsEmpty());
}

TEST(SdkTest, ReturnedErrorFromStateCreateKeepsCodeAndMessage) {
  auto harness = OpenTestModule("init_fails");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->CreateState("anything");
  EXPECT_EQ(result.code, FNHOST_STATUS_FAILED_PRECONDITION);
  EXPECT_EQ(result.message, "init failed on purpose");
}

TEST(SdkTest, StateCreateReturningOkWithoutAStateIsAnError) {
  auto harness = OpenTestModule("null_state");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->CreateState("");
  EXPECT_EQ(result.code, FNHOST_STATUS_INTERNAL);
  EXPECT_EQ(result.message, "State::Create returned OK without a state");
  EXPECT_EQ(harness->CreateInstance().code, FNHOST_STATUS_FAILED_PRECONDITION);
}

// ---- The table ----------------------------------------------------------------------------

TEST(SdkTest, TableOfAPlainModule) {
  auto harness = OpenTestModule("hello");
  ASSERT_NE(harness, nullptr);
  const fnhost_module_v1& table = harness->table();
  EXPECT_EQ(table.abi_version, FNHOST_ABI_VERSION);
  EXPECT_EQ(table.struct_size, sizeof(fnhost_module_v1));
  EXPECT_EQ(table.sdk_version, FNHOST_SDK_VERSION);
  EXPECT_STREQ(table.name, "hello");
  EXPECT_STREQ(table.version, "1.0.0");
  EXPECT_EQ(table.max_concurrency_per_instance, 1u);
  EXPECT_EQ(table.flags & FNHOST_MODULE_FLAG_SNAPSHOT, 0u);
  EXPECT_EQ(table.state_snapshot, nullptr);
  EXPECT_EQ(table.state_restore, nullptr);
  EXPECT_NE(table.state_create, nullptr);
  EXPECT_NE(table.state_destroy, nullptr);
  EXPECT_NE(table.instance_create, nullptr);
  EXPECT_NE(table.instance_destroy, nullptr);
  EXPECT_NE(table.invoke, nullptr);
}

TEST(SdkTest, AfterRestoreOfAModuleWithoutTheHookSucceeds) {
  auto harness = OpenReady("hello");
  ASSERT_NE(harness, nullptr);
  EXPECT_TRUE(harness->AfterRestore().ok());
  EXPECT_EQ(harness->Invoke("you").response, "hello, you");
}

TEST(SdkTest, MaxConcurrencyComesFromTheInstanceClass) {
  auto harness = OpenTestModule("concurrent");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->table().max_concurrency_per_instance, 4u);
}

TEST(SdkTest, TableOfASnapshottableModule) {
  auto harness = OpenTestModule("snapshot_counter");
  ASSERT_NE(harness, nullptr);
  const fnhost_module_v1& table = harness->table();
  EXPECT_EQ(table.flags & FNHOST_MODULE_FLAG_SNAPSHOT, FNHOST_MODULE_FLAG_SNAPSHOT);
  EXPECT_NE(table.state_snapshot, nullptr);
  EXPECT_NE(table.state_restore, nullptr);
  EXPECT_NE(table.state_after_restore, nullptr);
}

// Modules built by fnhost_add_module must export fnhost_module_entry and nothing else, so that
// no symbol of theirs can interpose on (or be interposed by) the host or another module.
TEST(SdkTest, ModulesExportOnlyTheEntry) {
  for (const char* name : {"hello", "concurrent", "counting", "init_fails", "init_throws",
                           "invoke_throws", "null_state", "returns_error", "slow",
                           "snapshot_counter", "throwing", "wrong_abi"}) {
    EXPECT_EQ(DefinedDynamicSymbols(TestModulePath(name)),
              std::set<std::string>{FNHOST_MODULE_ENTRY_SYMBOL})
        << name;
  }
}

// ---- Snapshot hooks -----------------------------------------------------------------------

TEST(SdkTest, SnapshotRoundTripTellsRestoredStateFromCreatedOne) {
  auto created = OpenReady("snapshot_counter", "10");
  ASSERT_NE(created, nullptr);
  // 0 + 1 + 4 + ... + 81
  EXPECT_EQ(created->Invoke("").response, "origin=init after_restore=0 entries=10 sum=285");

  Sections sections;
  AbiResult snapshot = created->Snapshot(&sections);
  ASSERT_TRUE(snapshot.ok()) << ::testing::PrintToString(snapshot);
  ASSERT_EQ(sections.size(), 1u);
  EXPECT_EQ(sections["table"].size(), 10 * sizeof(uint64_t));

  auto restored = OpenTestModule("snapshot_counter");
  ASSERT_NE(restored, nullptr);
  AbiResult restore = restored->Restore(sections, "10");
  ASSERT_TRUE(restore.ok()) << ::testing::PrintToString(restore);
  ASSERT_TRUE(restored->CreateInstance().ok());
  EXPECT_EQ(restored->Invoke("").response, "origin=restore after_restore=0 entries=10 sum=285");
  ASSERT_TRUE(restored->AfterRestore().ok());
  EXPECT_EQ(restored->Invoke("").response, "origin=restore after_restore=1 entries=10 sum=285");
}

TEST(SdkTest, RestoreWithoutItsSectionIsNotFound) {
  auto harness = OpenTestModule("snapshot_counter");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->Restore({{"other", "x"}});
  EXPECT_EQ(result.code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(result.message, "snapshot has no section 'table'");
}

TEST(SdkTest, RestoreOfACorruptSectionIsDataLoss) {
  auto harness = OpenTestModule("snapshot_counter");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->Restore({{"table", "twelve bytes"}});
  EXPECT_EQ(result.code, FNHOST_STATUS_DATA_LOSS);
  EXPECT_THAT(result.message, HasSubstr("not a multiple of 8"));
}

TEST(SdkTest, SnapshotCounterRejectsABadInitConfig) {
  auto harness = OpenTestModule("snapshot_counter");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->CreateState("ten").code, FNHOST_STATUS_INVALID_ARGUMENT);
}

// ---- The other test modules behave as documented -----------------------------------------

TEST(TestModulesTest, NoEntryAndWrongAbiAreRefused) {
  std::string error;
  EXPECT_EQ(AbiHarness::Open(TestModulePath("no_entry"), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("has no fnhost_module_entry"));
  EXPECT_EQ(AbiHarness::Open(TestModulePath("wrong_abi"), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("ABI version 999"));
}

TEST(TestModulesTest, SlowSpinsForTheRequestedTime) {
  auto harness = OpenReady("slow");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->Invoke("0").response, "spun 0us");
  EXPECT_EQ(harness->Invoke("50").response, "spun 50us");
  AbiResult bad = harness->Invoke("50ms");
  EXPECT_EQ(bad.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(bad.message, HasSubstr("'50ms'"));
}

TEST(TestModulesTest, CountingCountsInitsAndInstances) {
  // The counters are per load of the object; this test holds the only harness of it.
  auto harness = OpenReady("counting");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->Invoke("stats").response,
            "inits=1 instances=1 live_states=1 live_instances=1");
  ASSERT_TRUE(harness->CreateInstance().ok());
  ASSERT_TRUE(harness->CreateInstance().ok());
  EXPECT_EQ(harness->Invoke("anything", 2).response,
            "inits=1 instances=3 live_states=1 live_instances=3");
  ASSERT_TRUE(harness->CreateState("").ok());  // destroys the old state and its instances
  ASSERT_TRUE(harness->CreateInstance().ok());
  EXPECT_EQ(harness->Invoke("stats").response,
            "inits=2 instances=4 live_states=1 live_instances=1");
}

TEST(TestModulesTest, ConcurrentEchoesFromManyThreadsOnOneInstance) {
  auto harness = OpenReady("concurrent");
  ASSERT_NE(harness, nullptr);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> mismatches(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string request = "thread " + std::to_string(t) + " call " + std::to_string(i);
        if (harness->Invoke(request).response != request) ++mismatches[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(TestModulesTest, EmptyRequestAndResponseCrossTheBoundary) {
  auto harness = OpenReady("concurrent");
  ASSERT_NE(harness, nullptr);
  AbiResult result = harness->Invoke("");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result);
  EXPECT_THAT(result.response, IsEmpty());
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(harness->Invoke(with_nul).response, with_nul);
}

}  // namespace
}  // namespace fnhost::testing
