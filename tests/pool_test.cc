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
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

// A pipe whose read end the gate module blocks on: each Release() lets one call finish.
class Gate {
 public:
  Gate() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Gate() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  std::string request() const { return "wait:" + std::to_string(fds_[0]); }
  void Release(int calls = 1) {
    for (int i = 0; i < calls; ++i) EXPECT_EQ(::write(fds_[1], "x", 1), 1);
  }

 private:
  int fds_[2];
};

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options;
    options.clock = &clock_;
    options.start_maintenance_thread = false;
    host_ = *Host::Create(options);
  }
  FunctionSpec Spec(const std::string& name, const std::string& module) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule(module);
    return spec;
  }
  template <typename Predicate>
  void AwaitStatus(const std::string& name, Predicate predicate) {
    testing::AwaitStatus(*host_, name, predicate);
  }
  std::future<absl::StatusOr<std::string>> CallAsync(const std::string& name,
                                                     const std::string& request,
                                                     CallOptions options = {}) {
    return std::async(std::launch::async, [this, name, request, options] {
      return host_->Invoke(name, request, options);
    });
  }

  FakeClock clock_;
  std::unique_ptr<Host> host_;
};

TEST_F(PoolTest, FullQueueRejectsAtOnceAndQueuedCallsAreServedInOrder) {
  FunctionSpec spec = Spec("gate", "gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  spec.pool.max_queue = 2;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  auto busy = CallAsync("gate", gate.request());
  AwaitStatus("gate", [](const FunctionStatus& s) { return s.busy_instances == 1; });
  auto queued1 = CallAsync("gate", gate.request());
  AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 1; });
  auto queued2 = CallAsync("gate", "plain");
  AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 2; });

  absl::StatusOr<std::string> rejected = host_->Invoke("gate", "plain");
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(rejected.status().message(), HasSubstr("queue is full"));
  EXPECT_EQ(RejectionReason(rejected.status()), "queue_full");

  gate.Release(2);
  EXPECT_EQ(*busy.get(), "released");
  EXPECT_EQ(*queued1.get(), "released");
  EXPECT_EQ(*queued2.get(), "done");
}

TEST_F(PoolTest, QueuedCallPastItsDeadlineGetsDeadlineExceeded) {
  FunctionSpec spec = Spec("gate", "gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  auto busy = CallAsync("gate", gate.request());
  AwaitStatus("gate", [](const FunctionStatus& s) { return s.busy_instances == 1; });
  CallOptions options;
  options.timeout = absl::Seconds(2);
  auto waiting = CallAsync("gate", "plain", options);
  AwaitStatus("gate", [](const FunctionStatus& s) { return s.queued_calls == 1; });
  clock_.Advance(absl::Seconds(3));
  absl::StatusOr<std::string> late = waiting.get();
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.status().message(), HasSubstr("'gate'"));
  // Marked as refused for want of an instance, unlike a call that ran too long.
  EXPECT_EQ(RejectionReason(late.status()), "deadline");
  EXPECT_EQ(RejectionReason(absl::DeadlineExceededError("ran too long")), "");
  gate.Release();
  EXPECT_EQ(*busy.get(), "released");
  EXPECT_EQ(*host_->Invoke("gate", "plain"), "done");
}

TEST_F(PoolTest, OneInstanceServesUpToItsConcurrency) {
  FunctionSpec spec = Spec("gate", "gate");  // declares kMaxConcurrency 4
  spec.pool.max_instances = 1;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  std::vector<std::future<absl::StatusOr<std::string>>> calls;
  // Whatever order they arrive in, four run at once on the single instance and the fifth
  // waits in the queue.
  for (int i = 0; i < 5; ++i) calls.push_back(CallAsync("gate", gate.request()));
  AwaitStatus("gate", [](const FunctionStatus& s) {
    return s.queued_calls == 1 && s.busy_instances == 1;
  });
  std::vector<FunctionStatus> status = host_->ListFunctions();
  EXPECT_EQ(status[0].idle_instances, 0);
  gate.Release(5);
  for (auto& call : calls) EXPECT_EQ(*call.get(), "released");
}

TEST_F(PoolTest, ConcurrentFirstCallsLoadAndInitOnce) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.max_instances = 4;
  ASSERT_TRUE(host_->Register(spec).ok());
  std::vector<std::future<absl::StatusOr<std::string>>> calls;
  for (int i = 0; i < 16; ++i) calls.push_back(CallAsync("counting", "x"));
  for (auto& call : calls) {
    absl::StatusOr<std::string> reply = call.get();
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_THAT(*reply, HasSubstr("inits=1 "));
  }
  std::vector<FunctionStatus> status = host_->ListFunctions();
  EXPECT_LE(status[0].idle_instances, 4);
}

TEST_F(PoolTest, IdleInstancesAreEvictedAndTheModuleUnloaded) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.keep_alive.idle_timeout = absl::Minutes(10);
  ASSERT_TRUE(host_->Register(spec).ok());
  host_->RunMaintenance();
  EXPECT_THAT(*host_->Invoke("counting", "x"), HasSubstr("inits=1 instances=1"));
  clock_.Advance(absl::Minutes(9));
  host_->RunMaintenance();
  EXPECT_TRUE(host_->ListFunctions()[0].loaded);
  clock_.Advance(absl::Minutes(2));
  host_->RunMaintenance();
  FunctionStatus status = host_->ListFunctions()[0];
  EXPECT_FALSE(status.loaded);
  EXPECT_EQ(status.idle_instances, 0);
  // The next call is a cold start on a freshly loaded object: its counters start again.
  EXPECT_THAT(*host_->Invoke("counting", "x"), HasSubstr("inits=1 instances=1"));
}

TEST_F(PoolTest, MinInstancesArePrewarmedAndNeverEvicted) {
  FunctionSpec spec = Spec("counting", "counting");
  spec.pool.min_instances = 2;
  spec.pool.keep_alive.idle_timeout = absl::Minutes(1);
  ASSERT_TRUE(host_->Register(spec).ok());
  host_->RunMaintenance();  // runs the prewarm scheduled by Register
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 2);
  clock_.Advance(absl::Hours(1));
  host_->RunMaintenance();
  EXPECT_EQ(host_->ListFunctions()[0].idle_instances, 2);
  EXPECT_THAT(*host_->Invoke("counting", "x"), HasSubstr("inits=1 instances=2"));
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
  AwaitStatus("f", [](const FunctionStatus& s) { return s.busy_instances == 1; });
  ASSERT_TRUE(host_->Reload("f", TestModule("hello")).ok());
  EXPECT_EQ(*host_->Invoke("f", "new"), "hello, new");
  gate.Release();
  EXPECT_EQ(*in_flight.get(), "released");
  EXPECT_EQ(*host_->Invoke("f", "again"), "hello, again");
}

TEST_F(PoolTest, FailedReloadKeepsTheOldVersionServing) {
  ASSERT_TRUE(host_->Register(Spec("f", "hello")).ok());
  EXPECT_EQ(*host_->Invoke("f", "a"), "hello, a");
  absl::Status status = host_->Reload("f", TestModule("init_fails"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("init failed on purpose"));
  EXPECT_EQ(*host_->Invoke("f", "b"), "hello, b");
}

TEST_F(PoolTest, ReloadFromTheSamePathRebuiltInPlace) {
  TempDir dir;
  std::string path = dir.Copy(TestModule("hello"), "f.so");
  FunctionSpec spec = Spec("f", "hello");
  spec.module_path = path;
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_EQ(*host_->Invoke("f", "a"), "hello, a");
  // Rebuilt as linkers and `install` do it: a new file renamed over the old path (writing into
  // the mapped file itself would change the code under the running version).
  dir.Copy(TestModule("gate"), "f.so.new");
  ASSERT_EQ(std::rename(dir.File("f.so.new").c_str(), path.c_str()), 0);
  ASSERT_TRUE(host_->Reload("f", path).ok());
  EXPECT_EQ(*host_->Invoke("f", "plain"), "done");
}

TEST_F(PoolTest, UnregisterLetsInFlightCallsFinish) {
  ASSERT_TRUE(host_->Register(Spec("f", "gate")).ok());
  Gate gate;
  auto in_flight = CallAsync("f", gate.request());
  AwaitStatus("f", [](const FunctionStatus& s) { return s.busy_instances == 1; });
  ASSERT_TRUE(host_->Unregister("f").ok());
  EXPECT_EQ(host_->Invoke("f", "x").status().code(), absl::StatusCode::kNotFound);
  gate.Release();
  EXPECT_EQ(*in_flight.get(), "released");
}

}  // namespace
}  // namespace fnhost
