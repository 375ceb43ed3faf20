// Pool behaviour: bounded FIFO queue, deadlines, per-instance concurrency, one load for many
// first calls, keep-alive eviction and scale to zero, prewarm and min_instances, reload,
// unregister with calls in flight. Calls are held busy by the gate module (a pipe the test
// writes to), time moves only by FakeClock: no test sleeps.
#include <unistd.h>

#include <atomic>
#include <cstdio>
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
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options;
    options.clock = &clock_;
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
  }
  FunctionSpec Spec(const std::string& name, const std::string& module) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule(module);
    return spec;
  }
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(const std::string& name, Predicate predicate) {
    return testing::AwaitStatus(*host_, name, predicate);
  }
  // A call on another thread. The fixture keeps it too, so that a test that ends early (its
  // Gate, destroyed first, lets held calls fail) waits for it before the host goes.
  std::shared_future<absl::StatusOr<std::string>> CallAsync(const std::string& name,
                                                            const std::string& request,
                                                            CallOptions options = {}) {
    calls_.push_back(std::async(std::launch::async, [this, name, request, options] {
                       return host_->Invoke(name, request, options);
                     }).share());
    return calls_.back();
  }

  FakeClock clock_;
  std::unique_ptr<Host> host_;
  std::vector<std::shared_future<absl::StatusOr<std::string>>> calls_;  // after host_
};

TEST_F(PoolTest, FullQueueRejectsAtOnceAndQueuedCallsAreServedInOrder) {
  FunctionSpec spec = Spec("gate", "gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  spec.pool.max_queue = 2;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  auto busy = CallAsync("gate", gate.request());
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  auto queued1 = CallAsync("gate", gate.request());
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 1; }));
  auto queued2 = CallAsync("gate", "plain");
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 2; }));

  absl::StatusOr<std::string> rejected = host_->Invoke("gate", "plain");
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(rejected.status().message(), HasSubstr("queue is full"));
  EXPECT_EQ(RejectionReason(rejected.status()), "queue_full");

  EXPECT_TRUE(gate.Release(2));
  EXPECT_THAT(AwaitResult(busy), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(queued1), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(queued2), IsOkAndHolds("done"));
}

TEST_F(PoolTest, QueuedCallPastItsDeadlineGetsDeadlineExceeded) {
  FunctionSpec spec = Spec("gate", "gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  auto busy = CallAsync("gate", gate.request());
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  CallOptions options;
  options.timeout = absl::Seconds(2);
  auto waiting = CallAsync("gate", "plain", options);
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 1; }));
  clock_.Advance(absl::Seconds(3));
  absl::StatusOr<std::string> late = AwaitResult(waiting);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.status().message(), HasSubstr("'gate'"));
  // Marked as refused for want of an instance, unlike a call that ran too long.
  EXPECT_EQ(RejectionReason(late.status()), "deadline");
  EXPECT_EQ(RejectionReason(absl::DeadlineExceededError("ran too long")), "");
  EXPECT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(busy), IsOkAndHolds("released"));
  EXPECT_THAT(host_->Invoke("gate", "plain"), IsOkAndHolds("done"));
}

TEST_F(PoolTest, OneInstanceServesUpToItsConcurrency) {
  FunctionSpec spec = Spec("gate", "gate");  // declares kMaxConcurrency 4
  spec.pool.max_instances = 1;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  std::vector<std::shared_future<absl::StatusOr<std::string>>> calls;
  // Whatever order they arrive in, four run at once on the single instance and the fifth
  // waits in the queue.
  for (int i = 0; i < 5; ++i) calls.push_back(CallAsync("gate", gate.request()));
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) {
    return s.queued_calls == 1 && s.busy_instances == 1;
  }));
  std::vector<FunctionStatus> status = host_->ListFunctions();
  EXPECT_EQ(status[0].idle_instances, 0);
  EXPECT_TRUE(gate.Release(5));
  for (auto& call : calls) EXPECT_THAT(AwaitResult(call), IsOkAndHolds("released"));
}

TEST_F(PoolTest, ConcurrentFirstCallsLoadAndInitOnce) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.max_instances = 4;
  ASSERT_TRUE(host_->Register(spec).ok());
  std::vector<std::shared_future<absl::StatusOr<std::string>>> calls;
  for (int i = 0; i < 16; ++i) calls.push_back(CallAsync("counting", "x"));
  for (auto& call : calls) EXPECT_THAT(AwaitResult(call), IsOkAndHolds(HasSubstr("inits=1 ")));
  std::vector<FunctionStatus> status = host_->ListFunctions();
  EXPECT_LE(status[0].idle_instances, 4);
}

TEST_F(PoolTest, IdleInstancesAreEvictedAndTheModuleUnloaded) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.keep_alive.idle_timeout = absl::Minutes(10);
  ASSERT_TRUE(host_->Register(spec).ok());
  HostForTesting::RunMaintenance(*host_);
  EXPECT_THAT(host_->Invoke("counting", "x"), IsOkAndHolds(HasSubstr("inits=1 instances=1")));
  clock_.Advance(absl::Minutes(9));
  HostForTesting::RunMaintenance(*host_);
  EXPECT_TRUE(host_->ListFunctions()[0].loaded);
  clock_.Advance(absl::Minutes(2));
  HostForTesting::RunMaintenance(*host_);
  FunctionStatus status = host_->ListFunctions()[0];
  EXPECT_FALSE(status.loaded);
  EXPECT_EQ(status.idle_instances, 0);
  // The next call is a cold start on a freshly loaded object: its counters start again.
  EXPECT_THAT(host_->Invoke("counting", "x"), IsOkAndHolds(HasSubstr("inits=1 instances=1")));
}

TEST_F(PoolTest, MinInstancesArePrewarmedAndNeverEvicted) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.min_instances = 2;
  spec.pool.keep_alive.idle_timeout = absl::Minutes(1);
  ASSERT_TRUE(host_->Register(spec).ok());
  HostForTesting::RunMaintenance(*host_);  // runs the prewarm scheduled by Register
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 2);
  clock_.Advance(absl::Hours(1));
  HostForTesting::RunMaintenance(*host_);
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 2);
  EXPECT_THAT(host_->Invoke("counting", "x"), IsOkAndHolds(HasSubstr("inits=1 instances=2")));
}

TEST_F(PoolTest, PrewarmAndWaitCreatesWarmInstances) {
  ASSERT_TRUE(host_->Register(Spec("counting", "counting")).ok());
  ASSERT_TRUE(host_->PrewarmAndWait("counting", 3).ok());
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 3);
  EXPECT_EQ(host_->PrewarmAndWait("missing", 1).code(), absl::StatusCode::kNotFound);
}

TEST_F(PoolTest, ReloadSwitchesNewCallsAndInFlightCallsFinishOnTheOldVersion) {
  FunctionSpec spec = Spec("f", "gate");
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  auto in_flight = CallAsync("f", gate.request());
  ASSERT_TRUE(AwaitStatus("f", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  ASSERT_TRUE(host_->Reload("f", TestModule("hello")).ok());
  EXPECT_THAT(host_->Invoke("f", "new"), IsOkAndHolds("hello, new"));
  EXPECT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(in_flight), IsOkAndHolds("released"));
  EXPECT_THAT(host_->Invoke("f", "again"), IsOkAndHolds("hello, again"));
}

// A reload creates as many instances as the version it replaces had before it switches, so the
// calls that follow find them warm.
TEST_F(PoolTest, ReloadWarmsAsManyInstancesAsTheReplacedVersionHad) {
  ASSERT_TRUE(host_->Register(Spec("f", "counting")).ok());
  ASSERT_TRUE(host_->PrewarmAndWait("f", 3).ok());
  ASSERT_TRUE(host_->Reload("f", TestModule("counting")).ok());  // a new object: new counters
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 3);
  EXPECT_THAT(host_->Invoke("f", "x"), IsOkAndHolds(HasSubstr("inits=1 instances=3 ")));
}

TEST_F(PoolTest, FailedReloadKeepsTheOldVersionServing) {
  ASSERT_TRUE(host_->Register(Spec("f", "hello")).ok());
  EXPECT_THAT(host_->Invoke("f", "a"), IsOkAndHolds("hello, a"));
  absl::Status status = host_->Reload("f", TestModule("init_fails"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("init failed on purpose"));
  EXPECT_THAT(host_->Invoke("f", "b"), IsOkAndHolds("hello, b"));
}

TEST_F(PoolTest, ReloadFromTheSamePathRebuiltInPlace) {
  TempDir dir;
  std::string path = dir.Copy(TestModule("hello"), "f.so");
  FunctionSpec spec = Spec("f", "hello");
  spec.module_path = path;
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_THAT(host_->Invoke("f", "a"), IsOkAndHolds("hello, a"));
  // Rebuilt as linkers and `install` do it: a new file renamed over the old path (writing into
  // the mapped file itself would change the code under the running version).
  dir.Copy(TestModule("gate"), "f.so.new");
  ASSERT_EQ(std::rename(dir.File("f.so.new").c_str(), path.c_str()), 0);
  ASSERT_TRUE(host_->Reload("f", path).ok());
  EXPECT_THAT(host_->Invoke("f", "plain"), IsOkAndHolds("done"));
}

TEST_F(PoolTest, UnregisterLetsInFlightCallsFinish) {
  ASSERT_TRUE(host_->Register(Spec("f", "gate")).ok());
  Gate gate;
  auto in_flight = CallAsync("f", gate.request());
  ASSERT_TRUE(AwaitStatus("f", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  ASSERT_TRUE(host_->Unregister("f").ok());
  EXPECT_EQ(host_->Invoke("f", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(in_flight), IsOkAndHolds("released"));
}

}  // namespace
}  // namespace fnhost
