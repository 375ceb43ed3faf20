// Host::InvokeAsync for functions in process isolation: calls complete from the poller, many
// in flight over few workers, with the same outcomes as blocking calls (crash, timeout, the
// circuit breaker), cancellation that drops the result or kills the worker, the poller's
// watchdog, and Reload and Unregister racing with calls in flight.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/isolation/call_poller.h"
#include "src/isolation/zygote_client.h"
#include "tests/support/async_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::Completions;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

FunctionSpec IsolatedSpec(const std::string& name, const std::string& module) {
  FunctionSpec spec;
  spec.name = name;
  spec.module_path = TestModule(module);
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  return spec;
}

class AsyncIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(testing::ManualHostOptions(&clock_, nullptr)), &host_));
  }
  FunctionHandle Register(const FunctionSpec& spec) {
    EXPECT_TRUE(host_->Register(spec).ok());
    absl::StatusOr<FunctionHandle> handle = host_->Lookup(spec.name);
    EXPECT_TRUE(handle.ok()) << handle.status();
    return handle.value_or(FunctionHandle());
  }
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(const std::string& name, Predicate predicate) {
    return testing::AwaitStatus(*host_, name, predicate);
  }

  FakeClock clock_;
  Completions done_;
  std::unique_ptr<Host> host_;
};

TEST_F(AsyncIsolationTest, ManyCallsInFlightOverTwoWorkersAllComplete) {
  FunctionSpec spec = IsolatedSpec("hello", "hello");
  spec.pool.max_instances = 2;
  spec.pool.max_queue = 64;
  FunctionHandle handle = Register(spec);
  constexpr int kCalls = 40;
  std::vector<std::string> requests(kCalls), responses(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    requests[i] = "caller" + std::to_string(i);
    host_->InvokeAsync(handle, requests[i], &responses[i], done_.Callback(requests[i]));
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(done_.Await(requests[i])) << i;
    EXPECT_TRUE(done_.status(requests[i]).ok()) << done_.status(requests[i]);
    EXPECT_EQ(responses[i], "hello, " + requests[i]);
    EXPECT_EQ(done_.count(requests[i]), 1);
  }
  FunctionStatus status = host_->ListFunctions()[0];
  EXPECT_LE(status.idle_instances + status.busy_instances, 2);
}

TEST_F(AsyncIsolationTest, CrashInAWorkerCompletesWithTheSignalAndTheNextCallGetsANewOne) {
  FunctionHandle handle = Register(IsolatedSpec("segv", "segfault"));
  std::string crash_request = "crash", response;
  host_->InvokeAsync(handle, crash_request, &response, done_.Callback("crash"));
  ASSERT_TRUE(done_.Await("crash"));
  EXPECT_EQ(done_.status("crash").code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(done_.status("crash").message(), HasSubstr("SIGSEGV"));
  std::string ok_request = "fine";
  host_->InvokeAsync(handle, ok_request, &response, done_.Callback("after"));
  ASSERT_TRUE(done_.Await("after"));
  EXPECT_TRUE(done_.status("after").ok()) << done_.status("after");
}

TEST_F(AsyncIsolationTest, InvokeTimeoutKillsTheWorkerAsABlockingCallWould) {
  FunctionSpec spec = IsolatedSpec("spin", "loop_forever");
  spec.isolation.invoke_timeout = absl::Milliseconds(200);
  FunctionHandle handle = Register(spec);
  std::string spin = "spin", response;
  host_->InvokeAsync(handle, spin, &response, done_.Callback("spin"));
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(done_.status("spin").message(), HasSubstr("did not finish within"));
  std::string echo = "echo";
  host_->InvokeAsync(handle, echo, &response, done_.Callback("echo"));
  ASSERT_TRUE(done_.Await("echo"));
  EXPECT_TRUE(done_.status("echo").ok());
  EXPECT_EQ(response, "echo");
}

TEST_F(AsyncIsolationTest, CancelWithoutKillDropsTheResultAndKeepsTheWorkerBusy) {
  FunctionSpec spec = IsolatedSpec("spin", "loop_forever");
  spec.isolation.invoke_timeout = absl::Seconds(1);
  spec.pool.max_instances = 1;
  FunctionHandle handle = Register(spec);
  ASSERT_TRUE(host_->PrewarmAndWait("spin").ok());
  CancellationToken token;
  CallOptions options;
  options.cancellation = &token;
  std::string spin = "spin", response;
  host_->InvokeAsync(handle, spin, &response, done_.Callback("spin"), options);
  ASSERT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  token.Cancel();
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kCancelled);
  // The worker still runs the call: its slot stays taken until the invoke timeout ends it.
  EXPECT_EQ(host_->ListFunctions()[0].busy_instances, 1);
  EXPECT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 0; }));
  EXPECT_EQ(done_.count("spin"), 1);
}

TEST_F(AsyncIsolationTest, CancelWithKillEndsTheWorkerAtOnceAndAnotherServes) {
  FunctionSpec spec = IsolatedSpec("spin", "loop_forever");
  spec.pool.max_instances = 1;
  spec.isolation.crash_limit = 1;  // a cancel is no crash: the breaker must stay closed
  FunctionHandle handle = Register(spec);
  CancellationToken token;
  CallOptions options;
  options.cancellation = &token;
  options.cancel_kills_worker = true;
  std::string spin = "spin", response;
  host_->InvokeAsync(handle, spin, &response, done_.Callback("spin"), options);
  ASSERT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  token.Cancel();
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 0; }));
  std::string echo = "echo";
  host_->InvokeAsync(handle, echo, &response, done_.Callback("echo"));
  ASSERT_TRUE(done_.Await("echo"));
  EXPECT_TRUE(done_.status("echo").ok()) << done_.status("echo");
}

TEST_F(AsyncIsolationTest, DeadlineOnTheFakeClockCancelsARunningIsolatedCall) {
  FunctionSpec spec = IsolatedSpec("spin", "loop_forever");
  spec.pool.max_instances = 1;
  FunctionHandle handle = Register(spec);
  CallOptions options;
  options.deadline = clock_.Now() + absl::Seconds(10);
  options.cancel_kills_worker = true;
  std::string spin = "spin", response;
  host_->InvokeAsync(handle, spin, &response, done_.Callback("spin"), options);
  ASSERT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 1; }));
  EXPECT_FALSE(done_.has("spin"));
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(AwaitStatus("spin", [](const FunctionStatus& s) { return s.busy_instances == 0; }));
}

TEST_F(AsyncIsolationTest, CrashLoopOpensTheCircuitBreakerForAsyncCallsToo) {
  FunctionSpec spec = IsolatedSpec("segv", "segfault");
  spec.isolation.crash_limit = 2;
  FunctionHandle handle = Register(spec);
  std::string crash = "crash", response;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "crash" + std::to_string(i);
    host_->InvokeAsync(handle, crash, &response, done_.Callback(name));
    ASSERT_TRUE(done_.Await(name));
  }
  EXPECT_EQ(done_.status("crash2").code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(done_.status("crash2").message(), HasSubstr("crash-looping"));
}

TEST_F(AsyncIsolationTest, ReloadAndUnregisterRaceWithCallsInFlight) {
  FunctionSpec spec = IsolatedSpec("hello", "hello");
  spec.pool.max_instances = 2;
  spec.pool.max_queue = 1000;
  FunctionHandle handle = Register(spec);
  constexpr int kCalls = 200;
  std::vector<std::string> responses(kCalls);
  const std::string request = "x";
  std::atomic<int> completed{0}, ok{0};
  std::thread caller([&] {
    for (int i = 0; i < kCalls; ++i) {
      host_->InvokeAsync(handle, request, &responses[i], [&](absl::Status status, std::string*) {
        ok += status.ok();
        ++completed;
      });
    }
  });
  ASSERT_TRUE(host_->Reload("hello", TestModule("hello")).ok());
  caller.join();
  ASSERT_TRUE(host_->Unregister("hello").ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return completed.load() == kCalls; }));
  EXPECT_GT(ok.load(), 0);
}

// Cancellations race with the calls they cancel, with a reload and with Unregister, in both
// isolation modes: every completion runs exactly once, with a status one of those can give.
TEST_F(AsyncIsolationTest, CancellationRacesWithReloadAndUnregister) {
  FunctionSpec isolated = IsolatedSpec("isolated", "hello");
  isolated.pool.max_instances = 2;
  isolated.pool.max_queue = 1000;
  FunctionSpec in_process;
  in_process.name = "in_process";
  in_process.module_path = TestModule("hello");
  in_process.pool.max_instances = 1;
  in_process.pool.max_queue = 1000;
  const FunctionHandle handles[2] = {Register(isolated), Register(in_process)};
  constexpr int kCalls = 300;
  std::vector<std::unique_ptr<CancellationToken>> tokens;
  for (int i = 0; i < kCalls; ++i) tokens.push_back(std::make_unique<CancellationToken>());
  std::vector<std::string> responses(kCalls);
  const std::string request = "x";
  std::vector<std::atomic<int>> completions(kCalls);
  std::atomic<int> unexpected{0};
  std::thread caller([&] {
    for (int i = 0; i < kCalls; ++i) {
      CallOptions options;
      options.cancellation = tokens[i].get();
      options.cancel_kills_worker = i % 3 == 0;
      options.allow_inline = i % 2 == 0;
      host_->InvokeAsync(handles[i % 2], request, &responses[i],
                         [&, i](absl::Status status, std::string*) {
                           const absl::StatusCode code = status.code();
                           if (code != absl::StatusCode::kOk &&
                               code != absl::StatusCode::kCancelled &&
                               code != absl::StatusCode::kNotFound) {
                             ++unexpected;
                           }
                           ++completions[i];
                         },
                         options);
    }
  });
  std::thread canceller([&] {
    for (int i = kCalls - 1; i >= 0; i -= 2) tokens[i]->Cancel();
  });
  ASSERT_TRUE(host_->Reload("isolated", TestModule("hello")).ok());
  ASSERT_TRUE(host_->Reload("in_process", TestModule("hello")).ok());
  caller.join();
  canceller.join();
  ASSERT_TRUE(host_->Unregister("isolated").ok());
  ASSERT_TRUE(host_->Unregister("in_process").ok());
  ASSERT_TRUE(testing::WaitUntil([&] {
    for (const std::atomic<int>& count : completions) {
      if (count.load() == 0) return false;
    }
    return true;
  }));
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(completions[i].load(), 1) << i;
  EXPECT_EQ(unexpected.load(), 0);
}

// The poller alone: a watchdog that fails on its third check ends the call and kills the
// worker, with the watchdog's status.
TEST(CallPollerTest, FailingWatchdogEndsTheCallAndKillsTheWorker) {
  ZygoteOptions options;
  options.config.mutable_module()->set_function_name("spin");
  options.config.mutable_module()->set_module_path(TestModule("loop_forever"));
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();

  struct Done final : internal::CallCompletion {
    void OnCallDone(absl::Status result) override {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(result);
      finished = true;
    }
    bool over() {
      std::lock_guard<std::mutex> lock(mu);
      return finished;
    }
    std::mutex mu;
    absl::Status status;
    bool finished = false;
  } done;
  std::atomic<int> checks{0};
  internal::CallPoller::Watchdog watchdog{absl::Milliseconds(1), [&](const Worker& checked) {
    return ++checks < 3 ? absl::OkStatus()
                        : absl::ResourceExhaustedError("over the CPU budget");
  }};
  internal::CallPoller poller;
  std::string response;
  ASSERT_TRUE(
      poller.Start(worker->get(), "spin", &response, nullptr, &done, &watchdog, nullptr).ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return done.over(); }));
  EXPECT_EQ(done.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(checks.load(), 3);
  EXPECT_FALSE((*worker)->alive());
  EXPECT_EQ((*worker)->lost_reason(), "watchdog");
}

}  // namespace
}  // namespace fnhost
