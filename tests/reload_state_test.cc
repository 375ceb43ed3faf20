// Reload that keeps state, through the Host, in both isolation modes (parameterised): a new
// version that declares the same state schema as the one it replaces starts from that one's
// live state (its snapshot sections, handed over in memory), another schema runs the init, a
// failure keeps the old version serving, and the metrics say which path each reload took.
#include <memory>
#include <string>
#include <thread>

#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::PrometheusValue;
using ::fnhost::testing::TakeHost;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class ReloadStateTest : public ::testing::TestWithParam<IsolationOptions::Mode> {
 protected:
  void SetUp() override {
    HostOptions options;
    options.metrics_sink = &metrics_;
    ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host_));
    FunctionSpec spec;
    spec.name = "counter";
    spec.module_path = TestModule("schema_counter");
    spec.init_config = "5";
    spec.isolation.mode = GetParam();
    ASSERT_TRUE(host_->Register(spec).ok());
  }

  absl::StatusOr<std::string> Call(std::string_view request) {
    return host_->Invoke("counter", request);
  }
  std::string Reloads(std::string_view path) {
    return PrometheusValue(metrics_.RenderPrometheus(),
                           "fnhost_reloads_total{function=\"counter\",path=\"" +
                               std::string(path) + "\"}");
  }

  MetricsAggregator metrics_;
  std::unique_ptr<Host> host_;
};

TEST_P(ReloadStateTest, TheSameSchemaKeepsTheLiveState) {
  ASSERT_THAT(Call("bump"), IsOkAndHolds("origin=create count=6"));
  ASSERT_THAT(Call("bump"), IsOkAndHolds("origin=create count=7"));
  ASSERT_TRUE(host_->Reload("counter", TestModule("schema_counter")).ok());
  EXPECT_THAT(Call("look"), IsOkAndHolds("origin=reload count=7"));
  // And again, from the reloaded version's state.
  ASSERT_THAT(Call("bump"), IsOkAndHolds("origin=reload count=8"));
  ASSERT_TRUE(host_->Reload("counter", TestModule("schema_counter")).ok());
  EXPECT_THAT(Call("look"), IsOkAndHolds("origin=reload count=8"));
  EXPECT_EQ(metrics_.Totals("counter").reloads_kept_state, 2);
  EXPECT_EQ(Reloads("kept_state"), "2");
}

TEST_P(ReloadStateTest, AnotherSchemaRunsTheInit) {
  ASSERT_THAT(Call("bump"), IsOkAndHolds("origin=create count=6"));
  ASSERT_TRUE(host_->Reload("counter", TestModule("schema_counter_v8")).ok());
  EXPECT_THAT(Call("look"), IsOkAndHolds("origin=create count=5"));
  EXPECT_EQ(Reloads("init"), "1");
  EXPECT_EQ(metrics_.Totals("counter").reloads_kept_state, 0);
}

TEST_P(ReloadStateTest, AVersionNeverLoadedHasNoStateToKeep) {
  ASSERT_TRUE(host_->Reload("counter", TestModule("schema_counter")).ok());
  EXPECT_THAT(Call("look"), IsOkAndHolds("origin=create count=5"));
  EXPECT_EQ(Reloads("init"), "1");
}

TEST_P(ReloadStateTest, AFailedRestoreKeepsTheOldVersionServing) {
  ASSERT_THAT(Call("bump"), IsOkAndHolds("origin=create count=6"));
  absl::Status reload = host_->Reload("counter", TestModule("schema_counter_broken"));
  EXPECT_TRUE(absl::IsDataLoss(reload)) << reload;
  EXPECT_THAT(reload.message(), HasSubstr("function 'counter'"));
  EXPECT_THAT(reload.message(), HasSubstr("this build refuses reloads"));
  EXPECT_THAT(Call("look"), IsOkAndHolds("origin=create count=6"));
  EXPECT_EQ(metrics_.Totals("counter").reloads_failed, 1);
  EXPECT_EQ(Reloads("failed"), "1");
}

// Workers forked before the init each restore their state: from the kept state, after a reload.
TEST(ReloadStateForkBeforeInitTest, EveryWorkerStartsFromTheKeptState) {
  std::unique_ptr<Host> host;
  ASSERT_TRUE(TakeHost(HostForTesting::Create(), &host));
  FunctionSpec spec;
  spec.name = "counter";
  spec.module_path = TestModule("schema_counter");
  spec.init_config = "5";
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  spec.isolation.fork_point = IsolationOptions::ForkPoint::kBeforeInit;
  ASSERT_TRUE(host->Register(spec).ok());
  // Each worker restores from the snapshot a builder process wrote after the init.
  ASSERT_THAT(host->Invoke("counter", "bump"), IsOkAndHolds("origin=restore count=6"));
  ASSERT_TRUE(host->Reload("counter", TestModule("schema_counter")).ok());
  EXPECT_THAT(host->Invoke("counter", "look"), IsOkAndHolds("origin=reload count=6"));
  // A second worker, forked now, restores the same kept state.
  ASSERT_TRUE(host->PrewarmAndWait("counter", 2).ok());
  EXPECT_EQ(host->ListFunctions()[0].idle_instances, 2);
  std::thread other([&] {
    EXPECT_THAT(host->Invoke("counter", "look"), IsOkAndHolds("origin=reload count=6"));
  });
  EXPECT_THAT(host->Invoke("counter", "look"), IsOkAndHolds("origin=reload count=6"));
  other.join();
}

INSTANTIATE_TEST_SUITE_P(BothModes, ReloadStateTest, testing::BothIsolationModes(),
                         testing::IsolationModeName);

}  // namespace
}  // namespace fnhost
