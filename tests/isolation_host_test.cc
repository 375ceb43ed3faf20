// Process isolation through the Host API: functions registered with isolation kProcess, whose
// workers are the pool's instances. Each hostile module faults on one request while other
// functions (one in process, one isolated) keep serving: every request gets an answer, the
// error names the function and the signal, exit or limit, a lost worker never goes back to the
// pool, and the faulty function serves again with a fresh worker. A crash loop trips the
// circuit breaker (driven by the host's FakeClock) instead of forking without end. Every test
// checks in TearDown that the host left no process and no descriptor behind.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "fnhost/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::ChildrenOfThisProcess;
using ::fnhost::testing::CountOpenFds;
using ::fnhost::testing::kSanitized;
using ::fnhost::testing::ProcessExists;
using ::fnhost::testing::TestModule;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

FunctionSpec IsolatedSpec(const std::string& name, const std::string& module) {
  FunctionSpec spec;
  spec.name = name;
  spec.module_path = TestModule(module);
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  return spec;
}

// Keeps the cold-start events, and forwards everything to an aggregator.
class RecordingSink : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cold_starts_.push_back(event);
      cold_starts_.back().function = {};
      cold_starts_.back().module_version = {};
    }
    aggregator.OnColdStart(event);
  }
  void OnInvocation(const InvocationEvent& event) override { aggregator.OnInvocation(event); }
  void OnPoolEvent(const PoolEvent& event) override { aggregator.OnPoolEvent(event); }
  void OnWorkerEvent(const WorkerEvent& event) override { aggregator.OnWorkerEvent(event); }
  void OnSnapshotEvent(const SnapshotEvent& event) override { aggregator.OnSnapshotEvent(event); }

  std::vector<ColdStartEvent> cold_starts() {
    std::lock_guard<std::mutex> lock(mu_);
    return cold_starts_;
  }

  MetricsAggregator aggregator;

 private:
  std::mutex mu_;
  std::vector<ColdStartEvent> cold_starts_;  // without their string_views
};

class IsolationHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = CountOpenFds();
    host_ = NewHost();
    ASSERT_NE(host_, nullptr);
    FunctionSpec in_process;
    in_process.name = "hello";
    in_process.module_path = TestModule("hello");
    ASSERT_TRUE(host_->Register(in_process).ok());
    ASSERT_TRUE(host_->Register(IsolatedSpec("hello_isolated", "hello")).ok());
  }

  void TearDown() override {
    host_.reset();
    EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty()) << "processes left behind";
    EXPECT_EQ(CountOpenFds(), fds_before_) << "descriptors leaked";
  }

  // A host on the fake clock and the recording sink.
  std::unique_ptr<Host> NewHost(const std::string& snapshot_dir = "") {
    HostOptions options = testing::ManualHostOptions(&clock_, &sink_);
    options.snapshot_dir = snapshot_dir;
    absl::StatusOr<std::unique_ptr<Host>> host = HostForTesting::Create(options);
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? *std::move(host) : nullptr;
  }

  absl::Status Call(std::string_view function, std::string_view request,
                    std::string* response = nullptr) {
    absl::StatusOr<std::string> result = host_->Invoke(function, request);
    if (response != nullptr) *response = result.ok() ? *std::move(result) : "";
    return result.status();
  }

  // The other functions answer as if nothing happened.
  void ExpectOthersServe() {
    std::string response;
    ASSERT_TRUE(Call("hello", "world", &response).ok());
    EXPECT_EQ(response, "hello, world");
    ASSERT_TRUE(Call("hello_isolated", "world", &response).ok());
    EXPECT_EQ(response, "hello, world");
  }

  // `function` echoes again (the hostile modules echo what they do not fault on).
  void ExpectServesAgain(std::string_view function) {
    std::string response;
    absl::Status status = Call(function, "still there?", &response);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(response, "still there?");
  }

  MetricsAggregator::FunctionTotals Totals(std::string_view function) {
    return sink_.aggregator.Totals(function);
  }

  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<Host> host_;
  int fds_before_ = 0;
};

struct Fault {
  const char* module;
  const char* request;
  absl::StatusCode code;
  const char* cause;   // in the message
  const char* reason;  // fnhost_worker_crashes_total's label
};

class HostileModuleTest : public IsolationHostTest,
                          public ::testing::WithParamInterface<Fault> {};

TEST_P(HostileModuleTest, FaultEndsOneWorkerAndTheFunctionServesAgain) {
  const Fault& fault = GetParam();
  if (fault.code == absl::StatusCode::kResourceExhausted && kSanitized) {
    GTEST_SKIP() << "sanitizer runtimes reserve terabytes of address space";
  }
  FunctionSpec spec = IsolatedSpec("hostile", fault.module);
  spec.isolation.invoke_timeout = absl::Milliseconds(200);  // a kill deadline, not an assertion
  if (fault.code == absl::StatusCode::kResourceExhausted) {
    spec.isolation.memory_limit_bytes = 64 << 20;
  }
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("hostile"));
  ASSERT_NO_FATAL_FAILURE(ExpectOthersServe());

  std::string response = "stale";
  absl::Status status = Call("hostile", fault.request, &response);
  EXPECT_EQ(status.code(), fault.code) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'hostile': "), HasSubstr(fault.cause)));
  EXPECT_EQ(response, "");

  ASSERT_NO_FATAL_FAILURE(ExpectOthersServe());
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("hostile"));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("hostile"));
  const MetricsAggregator::FunctionTotals totals = Totals("hostile");
  EXPECT_EQ(totals.worker_crashes, 1);
  EXPECT_EQ(totals.worker_spawns, 2);  // the lost worker never went back to the pool
  EXPECT_EQ(Totals("hello_isolated").worker_crashes, 0);
  const std::string prometheus = sink_.aggregator.RenderPrometheus();
  EXPECT_THAT(prometheus,
              HasSubstr(absl::StrCat("fnhost_worker_crashes_total{function=\"hostile\",reason=\"",
                                     fault.reason, "\"} 1\n")));
  EXPECT_THAT(prometheus,
              HasSubstr("fnhost_worker_spawn_duration_seconds_count{function=\"hostile\"} 2\n"));
}

INSTANTIATE_TEST_SUITE_P(
    Faults, HostileModuleTest,
    ::testing::Values(
        Fault{"segfault", "crash", absl::StatusCode::kUnavailable,
              "killed by signal SIGSEGV (Segmentation fault) during invoke", "SIGSEGV"},
        Fault{"abort", "abort", absl::StatusCode::kUnavailable,
              "killed by signal SIGABRT (Aborted) during invoke", "SIGABRT"},
        Fault{"exit_mid_call", "exit", absl::StatusCode::kUnavailable,
              "exited with status 0 during invoke", "exit"},
        Fault{"loop_forever", "spin", absl::StatusCode::kDeadlineExceeded,
              "invoke did not finish within 200ms", "timeout"},
        Fault{"alloc_unbounded", "alloc", absl::StatusCode::kResourceExhausted,
              "reached its memory limit of 67108864 bytes", "memory_limit"},
        Fault{"close_ipc", "close", absl::StatusCode::kUnavailable,
              "closed its channel during invoke", "channel"},
        Fault{"garbage_ipc", "write:this is not a frame", absl::StatusCode::kUnavailable,
              "broke the channel protocol during invoke", "protocol"}),
    [](const ::testing::TestParamInfo<Fault>& info) { return std::string(info.param.module); });

TEST_F(IsolationHostTest, AThrowingModuleKeepsItsWorker) {
  ASSERT_TRUE(host_->Register(IsolatedSpec("throwing", "throwing")).ok());
  absl::Status status = Call("throwing", "std");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'throwing': invoke: "),
                    HasSubstr("invoke failed on purpose")));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("throwing"));
  EXPECT_EQ(Totals("throwing").worker_spawns, 1);
  EXPECT_EQ(Totals("throwing").worker_crashes, 0);
}

TEST_F(IsolationHostTest, ModuleErrorsReadAsInProcess) {
  FunctionSpec in_process;
  in_process.name = "errors";
  in_process.module_path = TestModule("returns_error");
  ASSERT_TRUE(host_->Register(in_process).ok());
  absl::Status expected = Call("errors", "x");
  ASSERT_EQ(expected.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(host_->Unregister("errors").ok());
  ASSERT_TRUE(host_->Register(IsolatedSpec("errors", "returns_error")).ok());
  EXPECT_EQ(Call("errors", "x"), expected);
  EXPECT_EQ(Totals("errors").worker_crashes, 0);
}

TEST_F(IsolationHostTest, WhatAWorkerForksDiesWithTheHost) {
  ASSERT_TRUE(host_->Register(IsolatedSpec("forks", "fork_children")).ok());
  std::string response;
  ASSERT_TRUE(Call("forks", "fork", &response).ok());
  pid_t child = 0;
  ASSERT_TRUE(absl::SimpleAtoi(response, &child)) << response;
  EXPECT_TRUE(ProcessExists(child));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("forks"));
  host_.reset();
  EXPECT_FALSE(ProcessExists(child));
}

TEST_F(IsolationHostTest, ColdStartCarriesTheZygoteAndSpawnPhases) {
  ASSERT_TRUE(host_->PrewarmAndWait("hello_isolated", 2).ok());
  std::vector<ColdStartEvent> events = sink_.cold_starts();
  ASSERT_EQ(events.size(), 2u);
  // The first started the zygote, which measured the load and init inside itself (in real
  // time; the host's own clock is fake here).
  EXPECT_EQ(events[0].outcome, absl::StatusCode::kOk);
  EXPECT_EQ(events[0].state_source, StateSource::kInit);
  EXPECT_GT(events[0].dlopen, absl::ZeroDuration());
  EXPECT_GT(events[0].state_init, absl::ZeroDuration());
  EXPECT_GT(events[0].zygote_start, absl::ZeroDuration());
  // The second only spawned a worker.
  EXPECT_EQ(events[1].state_source, StateSource::kShared);
  EXPECT_EQ(events[1].dlopen, absl::ZeroDuration());
  EXPECT_EQ(events[1].zygote_start, absl::ZeroDuration());
  EXPECT_EQ(Totals("hello_isolated").worker_spawns, 2);
}

TEST_F(IsolationHostTest, LoadErrorsReadAsInProcess) {
  FunctionSpec missing = IsolatedSpec("missing", "hello");
  missing.module_path = "/nonexistent/missing.so";
  ASSERT_TRUE(host_->Register(missing).ok());
  absl::Status status = Call("missing", "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("function 'missing'"), HasSubstr("/nonexistent/missing.so")));

  ASSERT_TRUE(host_->Register(IsolatedSpec("init_fails", "init_fails")).ok());
  status = Call("init_fails", "x");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("function 'init_fails'"), HasSubstr("state init")));
  ASSERT_NO_FATAL_FAILURE(ExpectOthersServe());
}

TEST_F(IsolationHostTest, ConcurrencyAboveOnePerWorkerIsRefused) {
  FunctionSpec spec = IsolatedSpec("concurrent", "concurrent");
  spec.pool.max_concurrency_per_instance = 2;
  // Refused when registered, not at the first call: a config error shows at deploy time.
  absl::Status status = host_->Register(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'concurrent': max_concurrency_per_instance 2"),
                    HasSubstr("each worker process serves one call at a time")));
  EXPECT_EQ(Call("concurrent", "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(IsolationHostTest, CircuitBreakerRefusesNewWorkersInsteadOfAForkStorm) {
  FunctionSpec spec = IsolatedSpec("crashy", "segfault");
  spec.isolation.crash_limit = 3;
  spec.isolation.crash_window = absl::Seconds(60);
  spec.isolation.crash_backoff = absl::Seconds(30);
  ASSERT_TRUE(host_->Register(spec).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Call("crashy", "crash").code(), absl::StatusCode::kUnavailable);
  }
  // Open: calls are answered at once, and nothing forks.
  for (int i = 0; i < 5; ++i) {
    absl::Status status = Call("crashy", "echo");
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(status.message(),
              "function 'crashy' is crash-looping (3 worker crashes within 1m); no new workers "
              "for another 30s");
  }
  EXPECT_EQ(Totals("crashy").worker_spawns, 3);
  ASSERT_NO_FATAL_FAILURE(ExpectOthersServe());

  clock_.Advance(absl::Seconds(30));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("crashy"));
  EXPECT_EQ(Totals("crashy").worker_spawns, 4);
}

TEST_F(IsolationHostTest, AHungCallDoesNotHoldUpTheFunctionsOtherWorkers) {
  FunctionSpec spec = IsolatedSpec("spinner", "loop_forever");
  spec.isolation.invoke_timeout = absl::Milliseconds(200);
  spec.pool.max_instances = 2;
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_TRUE(host_->PrewarmAndWait("spinner", 2).ok());
  std::atomic<bool> hung_done{false};
  absl::Status hung;
  std::thread caller([&] {
    hung = Call("spinner", "spin");
    hung_done = true;
  });
  // Whichever of the two workers the spin took, the other one serves, more than once.
  int served = 0;
  for (int i = 0; i < 20; ++i) {
    std::string response;
    if (Call("spinner", "echo", &response).ok() && response == "echo") ++served;
  }
  caller.join();
  EXPECT_TRUE(hung_done);
  EXPECT_EQ(hung.code(), absl::StatusCode::kDeadlineExceeded) << hung;
  EXPECT_EQ(served, 20);
  EXPECT_EQ(Totals("spinner").worker_crashes, 1);
}

TEST_F(IsolationHostTest, OthersServeWhileAFunctionCrashesOnAnotherThread) {
  FunctionSpec spec = IsolatedSpec("crashy", "segfault");
  spec.isolation.crash_limit = 0;
  ASSERT_TRUE(host_->Register(spec).ok());
  std::atomic<bool> crashing{true};
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (const char* function : {"hello", "hello_isolated"}) {
    callers.emplace_back([&, function] {
      std::string response;
      for (int calls = 0; calls < 100 || crashing.load(); ++calls) {
        if (!Call(function, "world", &response).ok() || response != "hello, world") ++failures;
      }
    });
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(Call("crashy", "crash").code(), absl::StatusCode::kUnavailable);
  }
  crashing = false;
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Totals("crashy").worker_crashes, 8);
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain("crashy"));
}

TEST_F(IsolationHostTest, KilledZygoteIsRestartedByTheNextSpawn) {
  ASSERT_TRUE(host_->PrewarmAndWait("hello_isolated", 1).ok());
  // The zygote is this process's only child (the worker is the zygote's).
  std::vector<pid_t> children = ChildrenOfThisProcess();
  ASSERT_EQ(children.size(), 1u);
  ASSERT_EQ(::kill(children[0], SIGKILL), 0);
  // Until it is dead (not reaped: that is the host's job); by then its worker has its SIGKILL.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, children[0], &info, WEXITED | WNOWAIT), 0);
  // The idle worker died with its zygote: its call fails, and says so ...
  absl::Status status = Call("hello_isolated", "world");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("zygote ", children[0], " killed by signal SIGKILL")));
  // ... and the next call restarts the zygote.
  std::string response;
  ASSERT_TRUE(Call("hello_isolated", "world", &response).ok());
  EXPECT_EQ(response, "hello, world");
  EXPECT_THAT(ChildrenOfThisProcess(), ::testing::Not(::testing::Contains(children[0])));
}

TEST_F(IsolationHostTest, IdleWorkersAreEvictedAndTheZygoteGoesAtScaleToZero) {
  FunctionSpec spec = IsolatedSpec("idle", "hello");
  spec.pool.keep_alive.idle_timeout = absl::Minutes(1);
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_TRUE(Call("idle", "x").ok());
  const size_t with_idle = ChildrenOfThisProcess().size();
  clock_.Advance(absl::Minutes(2));
  HostForTesting::RunMaintenance(*host_);
  EXPECT_EQ(ChildrenOfThisProcess().size(), with_idle - 1);  // its zygote is gone
  EXPECT_EQ(Totals("idle").unloads, 1);
  std::string response;
  ASSERT_TRUE(Call("idle", "back", &response).ok());
  EXPECT_EQ(response, "hello, back");
}

TEST_F(IsolationHostTest, UnregisterAndReloadLetTheOldZygoteGo) {
  ASSERT_TRUE(host_->Register(IsolatedSpec("reloaded", "hello")).ok());
  ASSERT_TRUE(Call("reloaded", "x").ok());
  const size_t before = ChildrenOfThisProcess().size();
  ASSERT_TRUE(host_->Reload("reloaded", TestModule("hello")).ok());
  EXPECT_EQ(ChildrenOfThisProcess().size(), before);  // a new zygote, the old one gone
  std::string response;
  ASSERT_TRUE(Call("reloaded", "again", &response).ok());
  EXPECT_EQ(response, "hello, again");
  ASSERT_TRUE(host_->Unregister("reloaded").ok());
  EXPECT_EQ(ChildrenOfThisProcess().size(), before - 1);
}

TEST_F(IsolationHostTest, ZygoteWritesAndRestoresStateSnapshots) {
  fnhost::testing::TempDir snapshots;
  std::unique_ptr<Host> host = NewHost(snapshots.path());
  ASSERT_NE(host, nullptr);
  FunctionSpec spec = IsolatedSpec("counter", "snapshot_counter");
  spec.init_config = "1000";
  ASSERT_TRUE(host->Register(spec).ok());
  absl::StatusOr<std::string> response = host->Invoke("counter", "");
  ASSERT_TRUE(response.ok()) << response.status();
  // The worker ran the post-fork hook once on the state its zygote built by init.
  EXPECT_THAT(*response, StartsWith("origin=init after_restore=1 entries=1000 "));
  EXPECT_EQ(sink_.cold_starts().back().state_source, StateSource::kInit);

  // A new zygote (after an unregister here; a restart of the server alike) restores it.
  ASSERT_TRUE(host->Unregister("counter").ok());
  ASSERT_TRUE(host->Register(spec).ok());
  absl::StatusOr<std::string> restored = host->Invoke("counter", "");
  ASSERT_TRUE(restored.ok()) << restored.status();
  // After-restore ran in the zygote, then once more in the worker.
  EXPECT_THAT(*restored, StartsWith("origin=restore after_restore=2 entries=1000 "));
  EXPECT_EQ(restored->substr(restored->find(" sum=")), response->substr(response->find(" sum=")));
  EXPECT_EQ(sink_.cold_starts().back().state_source, StateSource::kRestore);
  EXPECT_EQ(Totals("counter").snapshots_restored, 1);
  EXPECT_EQ(Totals("counter").snapshots_rejected, 0);
  EXPECT_THAT(sink_.aggregator.RenderPrometheus(),
              HasSubstr("fnhost_snapshot_events_total{function=\"counter\","
                        "event=\"written\"} 1\n"));
}

}  // namespace
}  // namespace fnhost
