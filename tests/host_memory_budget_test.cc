// A Host under a memory budget (HostOptions::memory_budget_mb): a new instance evicts the idle
// instance of lowest Greedy-Dual priority among the other functions (priorities worked out by
// hand below), busy instances never go, a call that finds all the memory busy waits in its
// queue and is refused with the reason "memory_budget" past its deadline or when the queue is
// full, a function whose last instance goes is unloaded, and prewarms and reloads stay within
// the budget. Then several threads call several functions under a tight budget while another
// reloads and unregisters: every call ends, and the budget is never exceeded. Calls are held
// busy by the gate module; time moves only by FakeClock.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/async_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::AwaitResult;
using ::fnhost::testing::Gate;
using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

constexpr int64_t kMb = 1024 * 1024;

// The aggregator, and the host gauges as last reported.
class BudgetSink : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override { aggregator.OnColdStart(event); }
  void OnInvocation(const InvocationEvent& event) override { aggregator.OnInvocation(event); }
  void OnPoolEvent(const PoolEvent& event) override { aggregator.OnPoolEvent(event); }
  void OnPoolGauges(const PoolGauges& gauges) override { aggregator.OnPoolGauges(gauges); }
  void OnHostGauges(const HostGauges& gauges) override {
    aggregator.OnHostGauges(gauges);
    std::lock_guard<std::mutex> lock(mu_);
    host_ = gauges;
  }
  HostGauges host() {
    std::lock_guard<std::mutex> lock(mu_);
    return host_;
  }

  MetricsAggregator aggregator;

 private:
  std::mutex mu_;
  HostGauges host_;
};

class HostMemoryBudgetTest : public ::testing::Test {
 protected:
  void Start(double budget_mb) {
    HostOptions options = testing::ManualHostOptions(&clock_, &sink_);
    options.memory_budget_mb = budget_mb;
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
  }
  // One instance serves one call; instances stay idle for 10 minutes.
  static FunctionSpec Spec(const std::string& name, double memory_mb) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule("gate");
    spec.pool.max_concurrency_per_instance = 1;
    spec.pool.keep_alive.instance_memory_mb = memory_mb;
    return spec;
  }
  void Register(const std::string& name, double memory_mb) {
    ASSERT_TRUE(host_->Register(Spec(name, memory_mb)).ok());
  }
  // A host with a budget of `budget_mb`, and functions of 128 MB instances.
  void StartWith(double budget_mb, std::initializer_list<std::string> names) {
    ASSERT_NO_FATAL_FAILURE(Start(budget_mb));
    for (const std::string& name : names) ASSERT_NO_FATAL_FAILURE(Register(name, 128));
  }
  // A call of `name` that finds no memory and waits in the queue.
  std::shared_future<absl::StatusOr<std::string>> CallThatWaits(const std::string& name,
                                                                CallOptions options = {}) {
    auto call = CallAsync(name, "x", options);
    EXPECT_TRUE(AwaitStatus(name, [](const FunctionStatus& s) { return s.queued_calls == 1; }));
    return call;
  }
  std::shared_future<absl::StatusOr<std::string>> CallAsync(const std::string& name,
                                                            const std::string& request,
                                                            CallOptions options = {}) {
    calls_.push_back(std::async(std::launch::async, [this, name, request, options] {
                       return host_->Invoke(name, request, options);
                     }).share());
    return calls_.back();
  }
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(const std::string& name, Predicate predicate) {
    return testing::AwaitStatus(*host_, name, predicate);
  }
  FunctionStatus StatusOf(const std::string& name) {
    for (const FunctionStatus& status : host_->ListFunctions()) {
      if (status.name == name) return status;
    }
    return FunctionStatus{};
  }
  int64_t BudgetEvictions(const std::string& name) {
    return sink_.aggregator.Totals(name).budget_evictions;
  }
  HostGauges Gauges() {
    host_->PublishGauges();
    return sink_.host();
  }
  int64_t UsedBytes() { return Gauges().memory_used_bytes; }
  // Waits for every call made by CallAsync to end (before the test's gates close their pipes).
  void AwaitCalls() {
    for (auto& call : calls_) AwaitResult(call).IgnoreError();
  }
  // Holds `name` busy with a call through `gate`, and waits until it is.
  void HoldBusy(const std::string& name, Gate& gate, int busy = 1) {
    CallAsync(name, gate.request());
    ASSERT_TRUE(
        AwaitStatus(name, [busy](const FunctionStatus& s) { return s.busy_instances == busy; }));
  }

  FunctionHandle Handle(const std::string& name) {
    absl::StatusOr<FunctionHandle> handle = host_->Lookup(name);
    EXPECT_TRUE(handle.ok()) << handle.status();
    return handle.value_or(FunctionHandle());
  }

  FakeClock clock_;
  BudgetSink sink_;
  testing::Completions done_;  // outlives the host: completions may come while it drains
  std::unique_ptr<Host> host_;
  std::vector<std::shared_future<absl::StatusOr<std::string>>> calls_;  // after host_
};

TEST_F(HostMemoryBudgetTest, ANewInstanceEvictsTheLowestPriorityIdleInstanceOfAnother) {
  ASSERT_NO_FATAL_FAILURE(Start(384));
  // c first: ties of priority would go to it.
  ASSERT_NO_FATAL_FAILURE(Register("c", 128));
  ASSERT_NO_FATAL_FAILURE(Register("a", 128));
  ASSERT_NO_FATAL_FAILURE(Register("b", 256));
  for (int i = 0; i < 3; ++i) ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  EXPECT_EQ(UsedBytes(), 384 * kMb);

  // c's first instance needs 128 MB. Priorities (clock + calls / GB): a 0 + 3 / 0.125 = 24,
  // b 0 + 1 / 0.25 = 4: b goes, its module with it, and the clock rises to 4.
  ASSERT_THAT(host_->Invoke("c", "x"), IsOkAndHolds("done"));
  EXPECT_EQ(BudgetEvictions("b"), 1);
  EXPECT_EQ(BudgetEvictions("a"), 0);
  EXPECT_FALSE(StatusOf("b").loaded);
  EXPECT_EQ(sink_.aggregator.Totals("b").unloads, 1);
  EXPECT_EQ(UsedBytes(), 256 * kMb);

  // A minute later c is called twice more: 3 calls, idle since after the clock rose.
  clock_.Advance(absl::Minutes(1));
  HostForTesting::RunMaintenance(*host_);
  for (int i = 0; i < 2; ++i) ASSERT_THAT(host_->Invoke("c", "x"), IsOkAndHolds("done"));
  // b needs 256 MB again: a (0 + 24 = 24) goes before c (4 + 3 / 0.125 = 28), with the same
  // calls and size, because it went idle before the clock rose. The clock rises to 24.
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  EXPECT_EQ(BudgetEvictions("a"), 1);
  EXPECT_EQ(BudgetEvictions("c"), 0);
  EXPECT_EQ(StatusOf("c").idle_instances, 1);
  // a needs 128 MB: b (4 + 2 / 0.25 = 12) goes before c (28).
  ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  EXPECT_EQ(BudgetEvictions("b"), 2);
  EXPECT_EQ(BudgetEvictions("c"), 0);
  EXPECT_EQ(UsedBytes(), 256 * kMb);
  EXPECT_EQ(Gauges().memory_peak_bytes, 384 * kMb);

  const std::string text = sink_.aggregator.RenderPrometheus();
  EXPECT_EQ(testing::PrometheusValue(text, "fnhost_memory_budget_bytes"),
            std::to_string(384 * kMb));
  EXPECT_EQ(testing::PrometheusValue(text, "fnhost_memory_used_bytes"),
            std::to_string(256 * kMb));
  EXPECT_EQ(testing::PrometheusValue(
                text, "fnhost_pool_events_total{function=\"b\",event=\"budget_eviction\"}"),
            "2");
}

TEST_F(HostMemoryBudgetTest, BusyInstancesStayAndTheCallWaitsThenTimesOut) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b", "c"}));
  Gate gate;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate));

  CallOptions options;
  options.timeout = absl::Seconds(1);
  auto waiting = CallThatWaits("c", options);
  EXPECT_EQ(Gauges().memory_waiting_calls, 1);
  clock_.Advance(absl::Seconds(2));
  absl::StatusOr<std::string> refused = AwaitResult(waiting);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(RejectionReason(refused.status()), "memory_budget");
  EXPECT_THAT(refused.status().message(), HasSubstr("function 'c'"));
  EXPECT_THAT(refused.status().message(), HasSubstr("memory budget (256 MB)"));

  // The busy instances were never touched.
  EXPECT_EQ(BudgetEvictions("a") + BudgetEvictions("b"), 0);
  ASSERT_TRUE(gate.Release(2));
  EXPECT_THAT(AwaitResult(calls_[0]), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(calls_[1]), IsOkAndHolds("released"));
  EXPECT_EQ(sink_.aggregator.Totals("c").rejected, 1);
  EXPECT_EQ(testing::PrometheusValue(
                sink_.aggregator.RenderPrometheus(),
                "fnhost_rejected_calls_total{function=\"c\",reason=\"memory_budget\"}"),
            "1");
}

TEST_F(HostMemoryBudgetTest, AWaitingCallEvictsAnInstanceOnceItGoesIdle) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b", "c"}));
  Gate gate_a;
  Gate gate_b;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate_a));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate_b));
  auto waiting = CallThatWaits("c");

  ASSERT_TRUE(gate_a.Release());
  EXPECT_THAT(AwaitResult(calls_[0]), IsOkAndHolds("released"));
  // The waiting call looks again at the next maintenance pass at the latest.
  HostForTesting::RunMaintenance(*host_);
  EXPECT_THAT(AwaitResult(waiting), IsOkAndHolds("done"));
  EXPECT_EQ(BudgetEvictions("a"), 1);
  EXPECT_EQ(BudgetEvictions("b"), 0);
  EXPECT_EQ(StatusOf("b").busy_instances, 1);
  ASSERT_TRUE(gate_b.Release());
  EXPECT_THAT(AwaitResult(calls_[1]), IsOkAndHolds("released"));
}

TEST_F(HostMemoryBudgetTest, AWaitingCallTakesAnInstanceOfItsOwnFunctionWhenOneFrees) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "c"}));
  Gate gate_a;
  Gate gate_c;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate_a));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("c", gate_c));
  // A second instance of c does not fit: the call waits, and gets c's first one.
  auto waiting = CallThatWaits("c");
  ASSERT_TRUE(gate_c.Release());
  EXPECT_THAT(AwaitResult(calls_[1]), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(waiting), IsOkAndHolds("done"));
  EXPECT_EQ(sink_.aggregator.Totals("c").coldstarts, 1);
  EXPECT_EQ(BudgetEvictions("a"), 0);
  EXPECT_EQ(StatusOf("a").busy_instances, 1);
  EXPECT_EQ(UsedBytes(), 256 * kMb);
  ASSERT_TRUE(gate_a.Release());
  AwaitCalls();
}

// InvokeAsync under a budget: the instance that does not fit makes room on the host's threads,
// as a blocking call would on its own.
TEST_F(HostMemoryBudgetTest, AnAsyncCallEvictsTheIdleInstanceOfAnother) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b", "c"}));
  ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  std::string response;
  host_->InvokeAsync(Handle("c"), "x", &response, done_.Callback("c"));
  ASSERT_TRUE(done_.Await("c"));
  EXPECT_TRUE(done_.status("c").ok()) << done_.status("c");
  EXPECT_EQ(response, "done");
  EXPECT_EQ(BudgetEvictions("a") + BudgetEvictions("b"), 1);
  EXPECT_EQ(UsedBytes(), 256 * kMb);
}

// An async call that finds every instance holding memory busy waits in the queue, holding no
// thread, and runs once one of them goes idle and can be evicted.
TEST_F(HostMemoryBudgetTest, AnAsyncCallWaitsForBusyMemoryThenRuns) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b", "c"}));
  Gate gate_a;
  Gate gate_b;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate_a));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate_b));
  std::string response;
  // The completion runs on the thread that completes the call, while the call's record lives:
  // by then the call must no longer count as waiting for memory.
  testing::InlineExecutor inline_executor;
  CallOptions options;
  options.executor = &inline_executor;
  std::atomic<int64_t> waiting_at_completion{-1};
  InvokeCallback done = done_.Callback("c");
  host_->InvokeAsync(
      Handle("c"), "x", &response,
      [&, done = std::move(done)](absl::Status status, std::string* out) mutable {
        waiting_at_completion = Gauges().memory_waiting_calls;
        done(std::move(status), out);
      },
      options);
  ASSERT_TRUE(AwaitStatus("c", [](const FunctionStatus& s) { return s.queued_calls == 1; }));
  EXPECT_FALSE(done_.has("c"));
  // It registers with the budget once a host thread has looked for room.
  ASSERT_TRUE(testing::WaitUntil([&] { return Gauges().memory_waiting_calls == 1; }));

  ASSERT_TRUE(gate_a.Release());
  EXPECT_THAT(AwaitResult(calls_[0]), IsOkAndHolds("released"));
  HostForTesting::RunMaintenance(*host_);  // the waiting call looks again at the latest here
  ASSERT_TRUE(done_.Await("c"));
  EXPECT_TRUE(done_.status("c").ok()) << done_.status("c");
  EXPECT_EQ(response, "done");
  EXPECT_EQ(waiting_at_completion, 0);
  EXPECT_EQ(BudgetEvictions("a"), 1);
  EXPECT_EQ(BudgetEvictions("b"), 0);
  ASSERT_TRUE(gate_b.Release());
  AwaitCalls();
}

TEST_F(HostMemoryBudgetTest, AnAsyncCallPastItsDeadlineIsRefusedForWantOfMemory) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b", "c"}));
  Gate gate;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate));
  CallOptions options;
  options.timeout = absl::Seconds(1);
  std::string response;
  host_->InvokeAsync(Handle("c"), "x", &response, done_.Callback("c"), options);
  ASSERT_TRUE(AwaitStatus("c", [](const FunctionStatus& s) { return s.queued_calls == 1; }));
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(done_.Await("c"));
  EXPECT_EQ(done_.status("c").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(RejectionReason(done_.status("c")), "memory_budget");
  EXPECT_THAT(done_.status("c").message(), HasSubstr("memory budget (256 MB)"));
  EXPECT_EQ(StatusOf("c").queued_calls, 0);
  ASSERT_TRUE(gate.Release(2));
  AwaitCalls();
  EXPECT_EQ(done_.count("c"), 1);
}

TEST_F(HostMemoryBudgetTest, AFullQueueRefusesAtOnceForWantOfMemory) {
  ASSERT_NO_FATAL_FAILURE(StartWith(128, {"a"}));
  FunctionSpec spec = Spec("c", 128);
  spec.pool.max_queue = 0;
  ASSERT_TRUE(host_->Register(spec).ok());
  Gate gate;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate));
  absl::StatusOr<std::string> refused = host_->Invoke("c", "x");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RejectionReason(refused.status()), "memory_budget");
  EXPECT_THAT(refused.status().message(), HasSubstr("queue is full"));
  ASSERT_TRUE(gate.Release());
  AwaitCalls();
}

TEST_F(HostMemoryBudgetTest, TheModuleWhoseLastInstanceGoesIsUnloadedAndLoadsAgain) {
  ASSERT_NO_FATAL_FAILURE(StartWith(128, {"a", "b"}));
  ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  EXPECT_FALSE(StatusOf("a").loaded);
  EXPECT_EQ(sink_.aggregator.Totals("a").unloads, 1);
  ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  EXPECT_TRUE(StatusOf("a").loaded);
  EXPECT_FALSE(StatusOf("b").loaded);
  EXPECT_EQ(sink_.aggregator.Totals("a").coldstarts, 2);
  EXPECT_EQ(BudgetEvictions("a"), 1);
  EXPECT_EQ(BudgetEvictions("b"), 1);
  EXPECT_EQ(UsedBytes(), 128 * kMb);
}

TEST_F(HostMemoryBudgetTest, PrewarmsEvictIdleInstancesAndStopAtBusyMemory) {
  ASSERT_NO_FATAL_FAILURE(StartWith(384, {"a", "b"}));
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  Gate gate;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate, /*busy=*/1));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate, /*busy=*/2));
  EXPECT_EQ(UsedBytes(), 256 * kMb);
  const absl::Status prewarm = host_->PrewarmAndWait("a", 3);
  EXPECT_EQ(prewarm.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RejectionReason(prewarm), "memory_budget");
  EXPECT_EQ(StatusOf("a").idle_instances, 1);
  ASSERT_TRUE(gate.Release(2));
  AwaitCalls();
  ASSERT_TRUE(AwaitStatus("b", [](const FunctionStatus& s) { return s.idle_instances == 2; }));
  // Now b's idle instances make room.
  EXPECT_TRUE(host_->PrewarmAndWait("a", 3).ok());
  EXPECT_EQ(StatusOf("a").idle_instances, 3);
  EXPECT_EQ(BudgetEvictions("b"), 2);
  EXPECT_EQ(Gauges().memory_peak_bytes, 384 * kMb);
}

TEST_F(HostMemoryBudgetTest, FloorsThatDoNotFitTogetherDoNotEvictEachOtherInTurn) {
  ASSERT_NO_FATAL_FAILURE(Start(128));
  for (const char* name : {"f", "g"}) {
    FunctionSpec spec = Spec(name, 128);
    spec.pool.min_instances = 1;
    ASSERT_TRUE(host_->Register(spec).ok());
  }
  // The prewarms Register schedules may evict (the second takes the first's instance); the
  // maintenance passes' top-ups use only free memory.
  HostForTesting::RunMaintenance(*host_);
  const int64_t evictions = BudgetEvictions("f") + BudgetEvictions("g");
  EXPECT_LE(evictions, 1);
  for (int pass = 0; pass < 5; ++pass) {
    clock_.Advance(absl::Seconds(1));
    HostForTesting::RunMaintenance(*host_);
  }
  EXPECT_EQ(BudgetEvictions("f") + BudgetEvictions("g"), evictions);
  EXPECT_EQ(StatusOf("f").idle_instances + StatusOf("g").idle_instances, 1);
  EXPECT_EQ(UsedBytes(), 128 * kMb);
}

TEST_F(HostMemoryBudgetTest, AReloadStaysWithinTheBudget) {
  ASSERT_NO_FATAL_FAILURE(StartWith(256, {"a", "b"}));
  ASSERT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("done"));
  ASSERT_THAT(host_->Invoke("b", "x"), IsOkAndHolds("done"));
  ASSERT_TRUE(host_->Reload("a", TestModule("canary")).ok());
  EXPECT_THAT(host_->Invoke("a", "x"), IsOkAndHolds("canary done"));
  EXPECT_EQ(Gauges().memory_peak_bytes, 256 * kMb);
  EXPECT_LE(UsedBytes(), 256 * kMb);
  // With every instance busy, the new version has no room: the old one keeps serving.
  Gate gate;
  ASSERT_NO_FATAL_FAILURE(HoldBusy("a", gate));
  ASSERT_NO_FATAL_FAILURE(HoldBusy("b", gate));
  const absl::Status reload = host_->Reload("a", TestModule("gate"));
  EXPECT_EQ(reload.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RejectionReason(reload), "memory_budget");
  ASSERT_TRUE(gate.Release(2));
  EXPECT_THAT(AwaitResult(calls_[0]), IsOkAndHolds("canary released"));
  AwaitCalls();
}

TEST_F(HostMemoryBudgetTest, RefusesWhatCouldNeverFit) {
  HostOptions options;
  options.clock = &clock_;
  options.memory_budget_mb = -1;
  EXPECT_EQ(HostForTesting::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_NO_FATAL_FAILURE(Start(100));
  const absl::Status status = host_->Register(Spec("big", 128));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("instance_memory_mb 128 is more than the host's "
                                          "memory_budget_mb 100"));
}

// What a call, a reload or a prewarm may end with under a budget while functions come and go.
void ExpectAllowedUnderBudget(const absl::Status& status, const char* what) {
  if (status.ok() || absl::IsNotFound(status)) return;  // f3 between Unregister and Register
  const std::string reason = RejectionReason(status);
  EXPECT_TRUE((absl::IsDeadlineExceeded(status) || absl::IsResourceExhausted(status)) &&
              (reason == "memory_budget" || reason == "deadline" || reason == "queue_full"))
      << what << ": " << status;
}

// InvokeAsync, waiting for its completion: every call in the test below has a deadline that the
// clock passes, so one that never completes is a bug, and aborts (its response would dangle).
absl::StatusOr<std::string> InvokeAsyncAndWait(Host& host, const std::string& name,
                                               const std::string& request) {
  absl::StatusOr<FunctionHandle> handle = host.Lookup(name);
  if (!handle.ok()) return handle.status();
  std::string response;
  std::promise<absl::Status> done;
  std::future<absl::Status> status = done.get_future();
  host.InvokeAsync(*handle, request, &response,
                   // Moved, not copied: a copy would leave the task thread to drop a
                   // reference to the status's rep after this thread read it, through
                   // Abseil's refcount, which ThreadSanitizer cannot see (Debian's Abseil
                   // is not instrumented), and TSan reported a race.
                   [&done](absl::Status result, std::string*) {
                     done.set_value(std::move(result));
                   });
  if (status.wait_for(testing::kWaitBound) != std::future_status::ready) {
    std::fprintf(stderr, "InvokeAsync of %s never completed\n", name.c_str());
    std::abort();
  }
  if (absl::Status result = status.get(); !result.ok()) return result;
  return response;
}

// Four threads (two blocking, two asynchronous) call four functions (one slow) whose instances need more memory than the budget has (three
// instances' worth), while another reloads one, sets and clears a canary on another, prewarms
// a third and unregisters and registers the fourth, and another moves time (past the calls'
// deadlines and idle timeouts) and runs maintenance. Every call ends with a response or a
// documented refusal, and the budget is never exceeded; once all is quiet, the memory charged
// is that of the instances left, and nothing once they are gone.
TEST_F(HostMemoryBudgetTest, ConcurrentCallsAndChangesEndAndStayWithinTheBudget) {
  ASSERT_NO_FATAL_FAILURE(Start(384));
  // f3's calls spin for 300 us: its instances stay busy while others need memory.
  auto spec = [](const std::string& name) {
    FunctionSpec spec = Spec(name, 128);
    if (name == "f3") spec.module_path = TestModule("slow");
    spec.pool.max_instances = 2;
    spec.pool.max_queue = 4;
    spec.pool.default_timeout = absl::Milliseconds(200);
    spec.pool.keep_alive.idle_timeout = absl::Seconds(2);
    return spec;
  };
  const std::vector<std::string> names = {"f0", "f1", "f2", "f3"};
  for (const std::string& name : names) ASSERT_TRUE(host_->Register(spec(name)).ok());

  constexpr int kCallers = 4;
  constexpr int kCallsPerCaller = 150;
  constexpr int kAdminRounds = 30;
  std::atomic<int> running{kCallers + 1};
  std::atomic<int> calls_ok{0};
  std::atomic<int> calls_refused_for_memory{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerCaller; ++i) {
        const std::string& name = names[(t + i) % names.size()];
        const std::string request = name == "f3" ? "300" : "x";
        absl::StatusOr<std::string> reply = t % 2 == 0
                                                ? host_->Invoke(name, request)
                                                : InvokeAsyncAndWait(*host_, name, request);
        if (reply.ok()) {
          EXPECT_TRUE(*reply == "done" || *reply == "canary done" || *reply == "spun 300us")
              << *reply;
          ++calls_ok;
        } else if (RejectionReason(reply.status()) == "memory_budget") {
          ++calls_refused_for_memory;
        }
        ExpectAllowedUnderBudget(reply.status(), "Invoke");
      }
      --running;
    });
  }
  threads.emplace_back([&] {
    for (int round = 0; round < kAdminRounds; ++round) {
      ExpectAllowedUnderBudget(
          host_->Reload("f0", TestModule(round % 2 == 0 ? "canary" : "gate")), "Reload");
      ExpectAllowedUnderBudget(host_->SetCanary("f1", TestModule("canary"), 0.5), "SetCanary");
      ExpectAllowedUnderBudget(host_->PrewarmAndWait("f2", 2), "PrewarmAndWait");
      EXPECT_TRUE(host_->ClearCanary("f1").ok());
      EXPECT_TRUE(host_->Unregister("f3").ok());
      EXPECT_TRUE(host_->Register(spec("f3")).ok());
    }
    --running;
  });
  int64_t peak = 0;
  // Bounded: the calls have deadlines that the clock passes, and nothing else waits.
  const bool ended = testing::WaitUntil([&] {
    clock_.Advance(absl::Milliseconds(20));
    HostForTesting::RunMaintenance(*host_);
    const HostGauges gauges = sink_.host();
    EXPECT_LE(gauges.memory_used_bytes, 384 * kMb);
    peak = gauges.memory_peak_bytes;
    return running == 0;
  });
  if (!ended) {
    std::fprintf(stderr, "calls or changes did not end within %lld s: a deadlock?\n",
                 static_cast<long long>(testing::kWaitBound.count()));
    std::abort();  // the threads cannot be joined
  }
  for (std::thread& thread : threads) thread.join();
  int64_t budget_evictions = 0;
  for (const std::string& name : names) budget_evictions += BudgetEvictions(name);
  std::printf("calls ok %d, refused for memory %d of %d; budget evictions %lld\n",
              calls_ok.load(), calls_refused_for_memory.load(), kCallers * kCallsPerCaller,
              static_cast<long long>(budget_evictions));
  EXPECT_GT(calls_ok, 0);
  EXPECT_GT(budget_evictions, 0);
  EXPECT_LE(peak, 384 * kMb);
  EXPECT_LE(Gauges().memory_peak_bytes, 384 * kMb);

  int instances = 0;
  for (const FunctionStatus& status : host_->ListFunctions()) {
    EXPECT_EQ(status.busy_instances, 0) << status.name;
    instances += status.idle_instances + status.busy_instances;
  }
  EXPECT_EQ(Gauges().memory_used_bytes, instances * 128 * kMb);
  for (const std::string& name : names) ASSERT_TRUE(host_->Unregister(name).ok());
  EXPECT_EQ(Gauges().memory_used_bytes, 0);
  EXPECT_EQ(Gauges().memory_waiting_calls, 0);
}

}  // namespace
}  // namespace fnhost
