// The compatibility window from a module's side: a module built for ABI 1 by the release before
// (tests/abi/v1/greeter.cc, against the frozen SDK and abi.h of ABI 1) loads through the loader
// and answers through the raw ABI; the loader keeps no field of ABI 2 for it.
#include <string>

#include "fnhost/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/loader/module_loader.h"
#include "tests/support/abi_harness.h"

namespace fnhost::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

const std::string kGreeter = TestModulePath("abi1_greeter");

TEST(AbiCompatTest, ModuleOfAbi1LoadsThroughTheLoaderWithoutTheFieldsOfAbi2) {
  absl::StatusOr<std::unique_ptr<LoadedModule>> module =
      LoadedModule::Load("greeter", kGreeter, LoadOptions(), *Clock::Real(), nullptr);
  ASSERT_TRUE(module.ok()) << module.status();
  const ModuleAbi& abi = (*module)->abi();
  EXPECT_EQ(abi.version, 1u);
  EXPECT_FALSE(abi.has_context());
  EXPECT_EQ(abi.state_schema(), 0u);
  const fnhost_module& table = (*module)->table();
  EXPECT_EQ(table.abi_version, 1u);
  EXPECT_EQ(table.struct_size, FNHOST_MODULE_SIZE_V1);
  EXPECT_EQ(table.sdk_version, 1u);
  EXPECT_STREQ(table.name, "abi1_greeter");
  EXPECT_STREQ(table.version, "0.9.0");
  EXPECT_NE(table.invoke, nullptr);
  EXPECT_EQ(table.invoke_with_context, nullptr);
  EXPECT_TRUE((*module)->supports_snapshots());
}

TEST(AbiCompatTest, ModuleOfAbi1AnswersThroughTheRawAbi) {
  std::string error;
  std::unique_ptr<AbiHarness> harness = AbiHarness::Open(kGreeter, &error);
  ASSERT_NE(harness, nullptr) << error;
  ASSERT_EQ(harness->abi().version, 1u);
  ASSERT_TRUE(harness->CreateState("hi").ok());
  ASSERT_TRUE(harness->CreateInstance().ok());
  // The harness has a context to give; a module of ABI 1 is called without one.
  CallOptions options;
  options.metadata = {{"user", "ann"}};
  AbiResult first = harness->Invoke("you", options);
  ASSERT_TRUE(first.ok()) << ::testing::PrintToString(first);
  EXPECT_EQ(first.response, "hi, you (call 1)");
  EXPECT_TRUE(first.response_metadata.empty());
  EXPECT_EQ(harness->Invoke("again").response, "hi, again (call 2)");
  // The init context of ABI 2 is larger than the one this module knows; it reads its part.
  EXPECT_THAT(harness->logs(), ElementsAre(Field(&LogLine::message, "greeter of ABI 1 ready")));
}

TEST(AbiCompatTest, ModuleOfAbi1SnapshotsAndRestores) {
  std::string error;
  std::unique_ptr<AbiHarness> created = AbiHarness::Open(kGreeter, &error);
  ASSERT_NE(created, nullptr) << error;
  ASSERT_TRUE(created->CreateState("bonjour").ok());
  Sections sections;
  AbiResult snapshot = created->Snapshot(&sections);
  ASSERT_TRUE(snapshot.ok()) << ::testing::PrintToString(snapshot);
  EXPECT_EQ(sections["greeting"], "bonjour");

  std::unique_ptr<AbiHarness> restored = AbiHarness::Open(kGreeter, &error);
  ASSERT_NE(restored, nullptr) << error;
  AbiResult restore = restored->Restore(sections);
  ASSERT_TRUE(restore.ok()) << ::testing::PrintToString(restore);
  ASSERT_TRUE(restored->CreateInstance().ok());
  EXPECT_EQ(restored->Invoke("toi").response, "bonjour, toi (call 1)");
}

}  // namespace
}  // namespace fnhost::testing
