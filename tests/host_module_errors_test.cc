// Modules that fail in every way a module can fail through the ABI: each gives a clear error
// naming the function (and for loading, the file), and the host keeps serving.
#include <string>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class HostModuleErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options;
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
    ASSERT_TRUE(host_->Register(Spec("good", "hello")).ok());
  }
  static FunctionSpec Spec(const std::string& name, const std::string& module) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule(module);
    return spec;
  }
  // Calls `module` registered as "bad" and returns the status; checks the host serves on.
  absl::Status CallBad(const std::string& module, const std::string& request = "x") {
    if (!registered_) {
      EXPECT_TRUE(host_->Register(Spec("bad", module)).ok());
      registered_ = true;
    }
    absl::Status status = host_->Invoke("bad", request).status();
    EXPECT_THAT(host_->Invoke("good", "still"), IsOkAndHolds("hello, still"));
    return status;
  }

  std::unique_ptr<Host> host_;
  bool registered_ = false;
};

TEST_F(HostModuleErrorsTest, SharedObjectWithoutEntry) {
  absl::Status status = CallBad("no_entry");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("does not export fnhost_module_entry"));
  EXPECT_THAT(status.message(), HasSubstr("no_entry.so"));
}

TEST_F(HostModuleErrorsTest, AbiVersionMismatchNamesBothVersions) {
  absl::Status status = CallBad("wrong_abi");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("ABI version 999"));
  EXPECT_THAT(status.message(),
              HasSubstr("this host (ABI version 2) loads ABI versions 1 to 2"));
  EXPECT_THAT(status.message(), HasSubstr("wrong_abi.so"));
}

TEST_F(HostModuleErrorsTest, InitThatFails) {
  absl::Status status = CallBad("init_fails");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("init failed on purpose"));
  EXPECT_THAT(status.message(), HasSubstr("'bad'"));
  EXPECT_THAT(status.message(), HasSubstr("init_fails.so"));
  // A later call tries again and fails the same way.
  EXPECT_EQ(host_->Invoke("bad", "x").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostModuleErrorsTest, InitThatThrows) {
  absl::Status status = CallBad("init_throws");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("threw"));
  EXPECT_THAT(status.message(), HasSubstr("init_throws.so"));
}

TEST_F(HostModuleErrorsTest, InvokeThatThrowsKeepsTheInstanceServing) {
  absl::Status status = CallBad("invoke_throws", "abc");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("boom: abc"));
  EXPECT_THAT(status.message(), HasSubstr("'bad'"));
  EXPECT_EQ(host_->Invoke("bad", "def").status().code(), absl::StatusCode::kInternal);
}

TEST_F(HostModuleErrorsTest, ModuleErrorKeepsItsCodeAndMessage) {
  absl::Status status = CallBad("returns_error", "nope");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("bad request: nope"));
}

TEST_F(HostModuleErrorsTest, ConcurrencyAboveTheModulesDeclarationIsRefused) {
  FunctionSpec spec = Spec("greedy", "hello");
  spec.pool.max_concurrency_per_instance = 2;  // hello declares 1
  ASSERT_TRUE(host_->Register(spec).ok());
  absl::Status status = host_->Invoke("greedy", "x").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("at most 1"));
}

}  // namespace
}  // namespace fnhost
