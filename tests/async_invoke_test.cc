// Host::InvokeAsync for functions in the host process: inline runs, the queue as records,
// executors, cancellation (token and deadline) in each phase, and Unregister with calls
// queued. Time moves only by FakeClock; calls are held by the gate module; no test sleeps.
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/async_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::Completions;
using ::fnhost::testing::Gate;
using ::fnhost::testing::QueueExecutor;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class AsyncInvokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options;
    options.clock = &clock_;
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
  }
  // One instance serving one call at a time: the second call queues.
  FunctionHandle RegisterGate(int max_queue = 8) {
    FunctionSpec spec;
    spec.name = "gate";
    spec.module_path = TestModule("gate");
    spec.pool.max_instances = 1;
    spec.pool.max_concurrency_per_instance = 1;
    spec.pool.max_queue = max_queue;
    EXPECT_TRUE(host_->Register(spec).ok());
    absl::StatusOr<FunctionHandle> handle = host_->Lookup("gate");
    EXPECT_TRUE(handle.ok()) << handle.status();
    return handle.value_or(FunctionHandle());
  }
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(Predicate predicate) {
    return testing::AwaitStatus(*host_, "gate", predicate);
  }

  FakeClock clock_;
  Gate gate_;
  // The request that blocks on the gate. Requests must outlive their calls (as responses do).
  const std::string wait_ = gate_.request();
  Completions done_;  // outlives the host: completions may still come while it drains
  std::unique_ptr<Host> host_;
};

TEST_F(AsyncInvokeTest, WarmCallRunsInlineAndCompletesBeforeReturning) {
  FunctionHandle handle = RegisterGate();
  std::string cold_response;
  host_->InvokeAsync(handle, "plain", &cold_response, done_.Callback("cold"));
  ASSERT_TRUE(done_.Await("cold"));  // a cold start completes on the host's threads
  EXPECT_TRUE(done_.status("cold").ok()) << done_.status("cold");

  std::string response;
  bool ran = false;
  const std::thread::id caller = std::this_thread::get_id();
  host_->InvokeAsync(handle, "plain", &response,
                     [&](absl::Status status, std::string* out) {
                       ran = status.ok() && out == &response &&
                             std::this_thread::get_id() == caller;
                     });
  EXPECT_TRUE(ran);  // before InvokeAsync returned, on this thread
  EXPECT_EQ(response, "done");
}

TEST_F(AsyncInvokeTest, ForbiddenInlineRunsElsewhereAndCompletesOnTheExecutor) {
  FunctionHandle handle = RegisterGate();
  ASSERT_TRUE(host_->PrewarmAndWait("gate").ok());
  QueueExecutor executor;
  CallOptions options;
  options.allow_inline = false;
  options.executor = &executor;
  std::string response;
  host_->InvokeAsync(handle, "plain", &response, done_.Callback("call"), options);
  // The call runs on the host's threads; its completion waits in the embedder's executor.
  ASSERT_TRUE(testing::WaitUntil([&] { return executor.size() == 1; }));
  EXPECT_FALSE(done_.has("call"));
  executor.RunAll();
  ASSERT_TRUE(done_.has("call"));
  EXPECT_TRUE(done_.status("call").ok());
  EXPECT_EQ(response, "done");
}

TEST_F(AsyncInvokeTest, QueuedCallWaitsAsARecordAndRunsWhenTheSlotFrees) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"));  // returns at once
  EXPECT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  EXPECT_FALSE(done_.has("queued"));
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("held"));
  ASSERT_TRUE(done_.Await("queued"));
  EXPECT_EQ(held, "released");
  EXPECT_EQ(queued, "done");
}

TEST_F(AsyncInvokeTest, FullQueueRejectsAtOnce) {
  FunctionHandle handle = RegisterGate(/*max_queue=*/1);
  std::string held, queued, rejected;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"));
  host_->InvokeAsync(handle, "plain", &rejected, done_.Callback("rejected"));
  ASSERT_TRUE(done_.Await("rejected"));
  EXPECT_EQ(done_.status("rejected").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RejectionReason(done_.status("rejected")), "queue_full");
  EXPECT_FALSE(done_.has("queued"));
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("queued"));
}

TEST_F(AsyncInvokeTest, CancelledQueuedCallLeavesTheQueueAtOnce) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued, behind;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  CancellationToken token;
  CallOptions options;
  options.cancellation = &token;
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"), options);
  host_->InvokeAsync(handle, "plain", &behind, done_.Callback("behind"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 2; }));
  token.Cancel();
  ASSERT_TRUE(done_.Await("queued"));  // while the instance is still held
  EXPECT_EQ(done_.status("queued").code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(done_.status("queued").message(), HasSubstr("'gate'"));
  EXPECT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("behind"));  // the call behind it moved up
  EXPECT_TRUE(done_.status("behind").ok());
  EXPECT_TRUE(queued.empty());
}

TEST_F(AsyncInvokeTest, CancelledTokenFailsTheCallBeforeItRuns) {
  FunctionHandle handle = RegisterGate();
  ASSERT_TRUE(host_->PrewarmAndWait("gate").ok());
  CancellationToken token;
  token.Cancel();
  CallOptions options;
  options.cancellation = &token;
  std::string response;
  host_->InvokeAsync(handle, "plain", &response, done_.Callback("call"), options);
  ASSERT_TRUE(done_.Await("call"));
  EXPECT_EQ(done_.status("call").code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(response.empty());
  // The synchronous Invoke honours the token too.
  EXPECT_EQ(host_->Invoke(handle, "plain", &response, options).code(),
            absl::StatusCode::kCancelled);
}

TEST_F(AsyncInvokeTest, RunningInProcessCallFinishesWhenCancelled) {
  FunctionHandle handle = RegisterGate();
  ASSERT_TRUE(host_->PrewarmAndWait("gate").ok());
  CancellationToken token;
  CallOptions options;
  options.cancellation = &token;
  options.allow_inline = false;  // the caller's thread must not block on the gate
  std::string response;
  host_->InvokeAsync(handle, wait_, &response, done_.Callback("call"), options);
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  token.Cancel();
  EXPECT_FALSE(done_.has("call"));  // module code cannot be interrupted
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("call"));
  EXPECT_TRUE(done_.status("call").ok());
  EXPECT_EQ(response, "released");
}

TEST_F(AsyncInvokeTest, QueueTimeoutOnTheFakeClockRejectsWithDeadline) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  CallOptions options;
  options.timeout = absl::Seconds(1);
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"), options);
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_FALSE(done_.has("queued"));
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(done_.Await("queued"));
  EXPECT_EQ(done_.status("queued").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(RejectionReason(done_.status("queued")), "deadline");
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("held"));
}

TEST_F(AsyncInvokeTest, CallDeadlineCancelsAQueuedCall) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  CallOptions options;
  options.deadline = clock_.Now() + absl::Seconds(5);
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"), options);
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(done_.Await("queued"));
  EXPECT_EQ(done_.status("queued").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 0; }));
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("held"));
}

TEST_F(AsyncInvokeTest, PassedDeadlineFailsAtOnce) {
  FunctionHandle handle = RegisterGate();
  CallOptions options;
  options.deadline = clock_.Now();
  std::string response;
  EXPECT_EQ(host_->Invoke(handle, "plain", &response, options).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(AsyncInvokeTest, UnregisterLetsQueuedCallsFinishAndRefusesNewOnes) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued, late;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  ASSERT_TRUE(host_->Unregister("gate").ok());
  host_->InvokeAsync(handle, "plain", &late, done_.Callback("late"));
  ASSERT_TRUE(done_.Await("late"));
  EXPECT_EQ(done_.status("late").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(gate_.Release());
  ASSERT_TRUE(done_.Await("queued"));
  EXPECT_TRUE(done_.status("queued").ok());
  EXPECT_EQ(queued, "done");
}

TEST_F(AsyncInvokeTest, DestroyingTheHostCompletesQueuedCalls) {
  FunctionHandle handle = RegisterGate();
  std::string held, queued;
  host_->InvokeAsync(handle, wait_, &held, done_.Callback("held"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  host_->InvokeAsync(handle, "plain", &queued, done_.Callback("queued"));
  ASSERT_TRUE(AwaitStatus([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  ASSERT_TRUE(gate_.Release());
  handle = FunctionHandle();
  host_.reset();  // waits for both
  EXPECT_TRUE(done_.has("held"));
  EXPECT_TRUE(done_.has("queued"));
}

}  // namespace
}  // namespace fnhost
