// Traffic split: a function sends a set share of its calls to a canary version. The share is
// exact (deterministic routing), metrics are split by module version, a canary that fails to
// initialise changes nothing, promote/clear/reload/unregister behave as documented, both
// versions share max_instances, and calls keep succeeding while the split changes under them.
// Calls are held busy by pipes (the gate and canary modules); time moves only by FakeClock.
#include <atomic>
#include <cmath>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::AwaitResult;
using ::fnhost::testing::Gate;
using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::PrometheusValue;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class TrafficSplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options = testing::ManualHostOptions(&clock_, &metrics_);
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
  }
  void Register(const std::string& module, int max_instances = 8) {
    FunctionSpec spec;
    spec.name = "f";
    spec.module_path = TestModule(module);
    spec.pool.max_instances = max_instances;
    ASSERT_TRUE(host_->Register(spec).ok());
  }
  FunctionStatus Status() { return host_->ListFunctions().at(0); }
  // Versions that left memory, or tried to (whether dlclose really unmaps is not at stake).
  int64_t Unloads() const {
    return metrics_.Totals("f").unloads + metrics_.Totals("f").failed_unloads;
  }
  // Waits (without sleeping: yields) until `predicate` holds for f's status.
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(Predicate predicate) {
    return testing::AwaitStatus(*host_, "f", predicate);
  }
  // A call to f on another thread. The fixture keeps it too, so that a test that ends early
  // (its Gate, destroyed first, lets held calls fail) waits for it before the host goes.
  std::shared_future<absl::StatusOr<std::string>> CallAsync(const std::string& request) {
    calls_.push_back(std::async(std::launch::async, [this, request] {
                       return host_->Invoke("f", request);
                     }).share());
    return calls_.back();
  }
  // Makes `calls` calls to f; returns how many the canary answered. Every call must succeed.
  int CanaryCalls(int calls) {
    int canary = 0;
    for (int i = 0; i < calls; ++i) {
      absl::StatusOr<std::string> reply = host_->Invoke("f", "x");
      EXPECT_TRUE(reply.ok()) << reply.status();
      if (reply.ok() && reply->starts_with("canary")) ++canary;
    }
    return canary;
  }

  FakeClock clock_;
  MetricsAggregator metrics_;  // outlives the host
  std::unique_ptr<Host> host_;
  std::vector<std::shared_future<absl::StatusOr<std::string>>> calls_;  // after host_
};

TEST_F(TrafficSplitTest, CanaryGetsExactlyItsShareInAFixedPattern) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.25).ok());
  // Every fourth call (the second, the sixth...), not just a quarter on average.
  for (int i = 1; i <= 12; ++i) {
    EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds(i % 4 == 2 ? "canary done" : "hello, x"))
        << "call " << i;
  }
  EXPECT_EQ(CanaryCalls(1000), 250);

  FunctionStatus status = Status();
  ASSERT_TRUE(status.canary.has_value());
  EXPECT_EQ(status.canary->module_version, "2.0.0");
  EXPECT_EQ(status.canary->share, 0.25);
  EXPECT_EQ(status.module_version, "1.0.0");
}

TEST_F(TrafficSplitTest, ShareCanBeRampedWithoutReloading) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.0).ok());
  EXPECT_EQ(CanaryCalls(100), 0);  // a dark canary: loaded, no traffic
  ASSERT_TRUE(host_->SetCanaryShare("f", 1.0 / 3).ok());
  EXPECT_EQ(CanaryCalls(300), 100);
  ASSERT_TRUE(host_->SetCanaryShare("f", 0.01).ok());
  EXPECT_EQ(CanaryCalls(1000), 10);
  ASSERT_TRUE(host_->SetCanaryShare("f", 1.0).ok());
  EXPECT_EQ(CanaryCalls(50), 50);
  // The canary was loaded and initialised once, by SetCanary.
  EXPECT_EQ(metrics_.Totals("f").coldstarts, 2);  // the stable version's first call, SetCanary
}

TEST_F(TrafficSplitTest, BadArgumentsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  for (double share : {-0.1, 1.5, std::nan("")}) {
    absl::Status status = host_->SetCanary("f", TestModule("canary"), share);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << share;
    EXPECT_THAT(status.message(), HasSubstr("'f'"));
  }
  EXPECT_EQ(host_->SetCanary("g", TestModule("canary"), 0.5).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_->SetCanary("f", "", 0.5).code(), absl::StatusCode::kInvalidArgument);
  absl::Status no_canary = host_->SetCanaryShare("f", 0.5);
  EXPECT_EQ(no_canary.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_canary.message(), HasSubstr("has no canary"));
  EXPECT_EQ(host_->PromoteCanary("f").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(host_->ClearCanary("f").ok());  // a rollback can always run
  EXPECT_EQ(host_->ClearCanary("g").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Status().canary.has_value());
}

TEST_F(TrafficSplitTest, CanaryThatFailsToInitialiseLeavesAllTrafficOnTheStableVersion) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  EXPECT_THAT(host_->Invoke("f", "a"), IsOkAndHolds("hello, a"));
  absl::Status status = host_->SetCanary("f", TestModule("init_fails"), 0.5);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("init failed on purpose"));
  EXPECT_THAT(status.message(), HasSubstr("init_fails.so"));
  absl::Status missing = host_->SetCanary("f", "/nonexistent/canary.so", 0.5);
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/canary.so"));
  EXPECT_FALSE(Status().canary.has_value());
  EXPECT_EQ(CanaryCalls(20), 0);

  // A failed replacement keeps the canary that was set.
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  EXPECT_FALSE(host_->SetCanary("f", TestModule("init_fails"), 0.9).ok());
  EXPECT_EQ(Status().canary->share, 0.5);
  EXPECT_EQ(CanaryCalls(20), 10);
}

TEST_F(TrafficSplitTest, PrometheusOutputSplitsInvocationsColdStartsAndLatenciesByVersion) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  EXPECT_EQ(CanaryCalls(10), 5);
  host_->PublishGauges();
  const std::string text = metrics_.RenderPrometheus();
  auto sample = [&text](const std::string& series) { return PrometheusValue(text, series); };
  const std::string stable = R"({function="f",version="1.0.0")";
  const std::string canary = R"({function="f",version="2.0.0")";
  // The stable version's first call was a cold start; the canary was warmed by SetCanary.
  EXPECT_EQ(sample("fnhost_version_invocations_total" + stable + R"(,start="cold"})"), "1");
  EXPECT_EQ(sample("fnhost_version_invocations_total" + stable + R"(,start="warm"})"), "4");
  EXPECT_EQ(sample("fnhost_version_invocations_total" + canary + R"(,start="cold"})"), "0");
  EXPECT_EQ(sample("fnhost_version_invocations_total" + canary + R"(,start="warm"})"), "5");
  EXPECT_EQ(sample("fnhost_version_coldstarts_total" + stable + "}"), "1");
  EXPECT_EQ(sample("fnhost_version_coldstarts_total" + canary + "}"), "1");
  EXPECT_EQ(sample("fnhost_version_errors_total" + canary + "}"), "0");
  EXPECT_EQ(sample("fnhost_version_invoke_duration_seconds_count" + canary + R"(,start="warm"})"),
            "5");
  EXPECT_EQ(sample("fnhost_version_invoke_duration_seconds_bucket" + stable +
                   R"(,start="warm",le="+Inf"})"),
            "4");
  // The per-function families still count both versions together.
  EXPECT_EQ(sample(R"(faas_invocations_total{function="f",start="warm"})"), "9");
  EXPECT_EQ(sample(R"(faas_coldstarts_total{function="f"})"), "2");
  EXPECT_EQ(sample(R"(fnhost_canary_share{function="f"})"), "0.5");

  ASSERT_TRUE(host_->SetCanaryShare("f", 0.125).ok());
  host_->PublishGauges();
  EXPECT_EQ(PrometheusValue(metrics_.RenderPrometheus(), R"(fnhost_canary_share{function="f"})"),
            "0.125");
  ASSERT_TRUE(host_->ClearCanary("f").ok());
  host_->PublishGauges();
  EXPECT_EQ(PrometheusValue(metrics_.RenderPrometheus(), R"(fnhost_canary_share{function="f"})"),
            "0");
}

TEST_F(TrafficSplitTest, PromoteMakesTheCanaryStableAndDrainsTheOldVersion) {
  ASSERT_NO_FATAL_FAILURE(Register("gate"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.0).ok());
  Gate gate;
  auto on_stable = CallAsync(gate.request());
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  ASSERT_TRUE(host_->PromoteCanary("f").ok());
  FunctionStatus status = Status();
  EXPECT_FALSE(status.canary.has_value());
  EXPECT_EQ(status.module_version, "2.0.0");
  EXPECT_THAT(status.module_path, HasSubstr("canary.so"));
  EXPECT_EQ(CanaryCalls(10), 10);
  // The call in flight finishes on the old version, which is then unloaded.
  EXPECT_EQ(Unloads(), 0);
  ASSERT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(on_stable), IsOkAndHolds("released"));
  EXPECT_EQ(Unloads(), 1);
  EXPECT_EQ(metrics_.Totals("f").reloads, 1);  // a promotion is counted as a reload
  EXPECT_EQ(host_->PromoteCanary("f").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrafficSplitTest, ClearSendsEverythingToStableAndInFlightCanaryCallsFinish) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 1.0).ok());
  Gate gate;
  auto on_canary = CallAsync(gate.request());
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  ASSERT_TRUE(host_->ClearCanary("f").ok());
  EXPECT_FALSE(Status().canary.has_value());
  EXPECT_EQ(CanaryCalls(10), 0);
  EXPECT_EQ(Unloads(), 0);
  ASSERT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(on_canary), IsOkAndHolds("canary released"));
  EXPECT_EQ(Unloads(), 1);  // the canary, once drained
  EXPECT_EQ(Status().module_version, "1.0.0");
}

TEST_F(TrafficSplitTest, ReloadReplacesTheStableVersionAndKeepsTheCanary) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  ASSERT_TRUE(host_->Reload("f", TestModule("gate")).ok());
  EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds("canary done"));
  EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds("done"));
  ASSERT_TRUE(Status().canary.has_value());
  EXPECT_THAT(Status().module_path, HasSubstr("gate.so"));
}

TEST_F(TrafficSplitTest, UnregisterDrainsAndUnloadsBothVersions) {
  ASSERT_NO_FATAL_FAILURE(Register("gate"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  Gate gate;
  auto on_canary = CallAsync(gate.request());  // the split's first call goes to the canary
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  auto on_stable = CallAsync(gate.request());
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 2; }));
  ASSERT_TRUE(host_->Unregister("f").ok());
  EXPECT_EQ(host_->Invoke("f", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_->SetCanary("f", TestModule("canary"), 0.5).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Unloads(), 0);
  ASSERT_TRUE(gate.Release(2));
  EXPECT_THAT(AwaitResult(on_stable), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(on_canary), IsOkAndHolds("canary released"));
  EXPECT_EQ(Unloads(), 2);
}

TEST_F(TrafficSplitTest, BothVersionsShareMaxInstances) {
  FunctionSpec spec;
  spec.name = "f";
  spec.module_path = TestModule("gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds("done"));
  // The canary's first instance takes the idle stable instance's place.
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  FunctionStatus status = Status();
  EXPECT_EQ(status.idle_instances + status.busy_instances, 1);
  EXPECT_EQ(status.canary->idle_instances, 1);
  // Alternating calls each evict the other version's idle instance: never two instances.
  for (int i = 0; i < 6; ++i) {
    EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds(i % 2 == 0 ? "canary done" : "done"));
    status = Status();
    EXPECT_EQ(status.idle_instances + status.busy_instances, 1);
  }
  // A stable call waits while the only instance serves the canary, then takes its place.
  ASSERT_TRUE(host_->SetCanaryShare("f", 1.0).ok());
  Gate gate;
  auto on_canary = CallAsync(gate.request());
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  ASSERT_TRUE(host_->SetCanaryShare("f", 0.0).ok());
  auto on_stable = CallAsync("y");
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  ASSERT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(on_canary), IsOkAndHolds("canary released"));
  EXPECT_THAT(AwaitResult(on_stable), IsOkAndHolds("done"));
  status = Status();
  EXPECT_EQ(status.idle_instances + status.busy_instances, 1);
  EXPECT_EQ(status.canary->idle_instances, 0);
}

TEST_F(TrafficSplitTest, KeepAliveEvictsCanaryInstancesButDoesNotUnloadIt) {
  ASSERT_NO_FATAL_FAILURE(Register("hello"));
  ASSERT_TRUE(host_->SetCanary("f", TestModule("canary"), 0.5).ok());
  EXPECT_EQ(CanaryCalls(2), 1);
  clock_.Advance(absl::Minutes(11));  // past the default 10 minute keep-alive
  HostForTesting::RunMaintenance(*host_);
  FunctionStatus status = Status();
  EXPECT_FALSE(status.loaded);  // the stable version scaled to zero
  EXPECT_EQ(status.idle_instances, 0);
  EXPECT_EQ(status.canary->idle_instances, 0);
  // Both answer again: the stable one with a full cold start, the canary with a new instance.
  EXPECT_EQ(CanaryCalls(2), 1);
  EXPECT_EQ(Status().canary->idle_instances, 1);
  EXPECT_TRUE(Status().loaded);
}

TEST_F(TrafficSplitTest, CanaryInTheSpecIsSetUpInTheBackgroundAfterRegister) {
  FunctionSpec spec;
  spec.name = "f";
  spec.module_path = TestModule("hello");
  spec.canary.module_path = TestModule("canary");
  spec.canary.share = 0.5;
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_FALSE(Status().canary.has_value());  // nothing loads on the caller's path
  HostForTesting::RunMaintenance(*host_);                    // runs the background work
  ASSERT_TRUE(Status().canary.has_value());
  EXPECT_EQ(CanaryCalls(10), 5);

  spec.name = "g";
  spec.canary.share = 2;
  absl::Status status = host_->Register(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("function 'g': canary.share 2"));
  spec.canary.module_path.clear();
  spec.canary.share = 0.5;
  EXPECT_EQ(host_->Register(spec).code(), absl::StatusCode::kInvalidArgument);
}

// Calls from several threads while the split is set, ramped, promoted, cleared and the stable
// version reloaded: every call succeeds with one of the versions' replies. Bounded by operation
// count; run under ThreadSanitizer by .ci/run.
TEST_F(TrafficSplitTest, CallsKeepSucceedingWhileTheSplitChanges) {
  ASSERT_NO_FATAL_FAILURE(Register("hello", /*max_instances=*/2));
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 300;
  std::atomic<int> failures{0};
  std::atomic<int> done{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        absl::StatusOr<std::string> reply = host_->Invoke("f", "x");
        if (!reply.ok() || (*reply != "hello, x" && *reply != "canary done")) ++failures;
      }
      ++done;
    });
  }
  int round = 0;
  do {
    const std::string canary = TestModule(round % 2 == 0 ? "canary" : "hello");
    const std::string stable = TestModule(round % 2 == 0 ? "hello" : "canary");
    EXPECT_TRUE(host_->SetCanary("f", canary, 0.3).ok());
    EXPECT_TRUE(host_->SetCanaryShare("f", 0.7).ok());
    switch (round % 3) {
      case 0:
        EXPECT_TRUE(host_->PromoteCanary("f").ok());
        break;
      case 1:
        EXPECT_TRUE(host_->ClearCanary("f").ok());
        break;
      case 2:
        EXPECT_TRUE(host_->Reload("f", stable).ok());
        break;
    }
    HostForTesting::RunMaintenance(*host_);
    ++round;
  } while (done.load() < kThreads);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
  FunctionStatus status = Status();
  EXPECT_LE(status.idle_instances + status.busy_instances, 2);
}

}  // namespace
}  // namespace fnhost
