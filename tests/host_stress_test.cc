// The Host under concurrent load: threads invoke many functions while others register, reload
// (also to a module whose init fails, and back), prewarm, unregister, advance a FakeClock and
// run maintenance, all at random from seeded generators, for a bounded number of operations.
// Every call must end with a response or an error from the allowed set, and every look at the
// pools must see instance counts within [0, max_instances]. Also runs under ThreadSanitizer
// (label `concurrency`); nothing here sleeps or depends on how long anything takes.

#include <array>
#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/loader/module_loader.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::AwaitResult;
using ::fnhost::testing::Gate;
using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

constexpr int kFunctions = 6;
// Modules a function may be registered with or reloaded to; init_fails never gets an instance.
const char* const kModules[] = {"hello", "slow", "counting", "concurrent", "noop", "init_fails"};
constexpr char kInitFailure[] = "init failed on purpose";

// Pool bounds depend only on the name, so an observer knows them whatever was registered last.
std::string FunctionName(int i) { return absl::StrCat("f", i); }
int MaxInstances(int i) { return 1 + i % 3; }
int MinInstances(int i) { return i % 2 == 0 ? 1 : 0; }
int MaxQueue(int i) { return i % 4; }

FunctionSpec Spec(int i, const std::string& module) {
  FunctionSpec spec;
  spec.name = FunctionName(i);
  spec.module_path = TestModule(module);
  spec.pool.max_instances = MaxInstances(i);
  spec.pool.min_instances = MinInstances(i);
  spec.pool.max_queue = MaxQueue(i);
  spec.pool.default_timeout = absl::Seconds(5);
  spec.pool.keep_alive.idle_timeout = absl::Seconds(2);
  return spec;
}

// Whether `response` is what one of kModules answers to `request`.
bool IsModuleResponse(const std::string& response, const std::string& request) {
  return response == "hello, " + request || response == "spun " + request + "us" ||
         response == request || response == "ok" || absl::StartsWith(response, "inits=");
}

// The errors a call, a prewarm or a reload may end with while the function's registration,
// version and pool change under it. Each must name the function.
void ExpectAllowedError(const absl::Status& status, const std::string& name, const char* what) {
  SCOPED_TRACE(absl::StrCat(what, " of ", name, ": ", status.ToString()));
  switch (status.code()) {
    case absl::StatusCode::kNotFound:           // unregistered (by name or through a handle)
    case absl::StatusCode::kResourceExhausted:  // queue full
    case absl::StatusCode::kDeadlineExceeded:   // fake time passed the call's deadline
      break;
    case absl::StatusCode::kFailedPrecondition:  // the init_fails module
      EXPECT_THAT(status.message(), HasSubstr(kInitFailure));
      break;
    default:
      ADD_FAILURE() << "unexpected error";
  }
  EXPECT_THAT(status.message(), HasSubstr("'" + name + "'"));
}

// Checks one observation of the pools.
void ExpectPoolsWithinBounds(Host& host) {
  for (const FunctionStatus& status : host.ListFunctions()) {
    SCOPED_TRACE(status.name);
    const int i = std::stoi(status.name.substr(1));
    EXPECT_GE(status.idle_instances, 0);
    EXPECT_GE(status.busy_instances, 0);
    EXPECT_LE(status.idle_instances + status.busy_instances, MaxInstances(i));
    EXPECT_GE(status.queued_calls, 0);
    EXPECT_LE(status.queued_calls, MaxQueue(i));
  }
}

TEST(HostStressTest, RandomOperationsEndWellAndKeepPoolsWithinBounds) {
  FakeClock clock;
  MetricsAggregator metrics;
  HostOptions options;
  options.clock = &clock;
  options.metrics_sink = &metrics;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  for (int i = 0; i < kFunctions; ++i) ASSERT_TRUE(host->Register(Spec(i, kModules[i])).ok());

  constexpr int kInvokers = 4;
  constexpr int kCallsPerInvoker = 600;
  constexpr int kAdmins = 2;
  constexpr int kAdminOpsPerThread = 150;
  constexpr int kMaintenanceOps = 80;
  constexpr int kObservations = 200;
  std::atomic<int> calls_ok{0};
  std::atomic<int> calls_failed{0};
  std::array<std::atomic<int>, 17> calls_by_code{};  // by absl::StatusCode
  std::atomic<int> reloads_ok{0};
  std::atomic<int> reloads_failed_init{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kInvokers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      std::vector<FunctionHandle> handles(kFunctions);
      std::string response;
      for (int n = 0; n < kCallsPerInvoker; ++n) {
        const int i = static_cast<int>(rng() % kFunctions);
        const std::string name = FunctionName(i);
        // The slow module spins this many microseconds: now and then long enough for calls to
        // queue and for the clock thread to pass their deadlines.
        const std::string request = std::to_string(rng() % 8 == 0 ? rng() % 2000 : rng() % 50);
        CallOptions call;
        if (rng() % 3 == 0) call.timeout = absl::Milliseconds(1 + rng() % 500);
        absl::Status status;
        if (rng() % 2 == 0) {
          absl::StatusOr<std::string> reply = host->Invoke(name, request, call);
          status = reply.status();
          if (reply.ok()) response = *reply;
        } else {
          if (!handles[i].valid()) {
            absl::StatusOr<FunctionHandle> handle = host->Lookup(name);
            if (handle.ok()) handles[i] = *handle;
          }
          status = handles[i].valid() ? host->Invoke(handles[i], request, &response, call)
                                      : absl::NotFoundError("no function named '" + name + "'");
          // A handle outlives its registration: look the name up again next time.
          if (absl::IsNotFound(status)) handles[i] = FunctionHandle();
        }
        ++calls_by_code[static_cast<int>(status.code()) % calls_by_code.size()];
        if (status.ok()) {
          EXPECT_TRUE(IsModuleResponse(response, request)) << name << ": " << response;
          ++calls_ok;
        } else {
          ExpectAllowedError(status, name, "Invoke");
          ++calls_failed;
        }
      }
    });
  }
  for (int t = 0; t < kAdmins; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(2000 + t);
      for (int n = 0; n < kAdminOpsPerThread; ++n) {
        const int i = static_cast<int>(rng() % kFunctions);
        const std::string name = FunctionName(i);
        const std::string module = kModules[rng() % std::size(kModules)];
        switch (rng() % 5) {
          case 0: {
            absl::Status status = host->Register(Spec(i, module));
            EXPECT_TRUE(status.ok() || absl::IsAlreadyExists(status)) << status;
            break;
          }
          case 1: {
            absl::Status status = host->Unregister(name);
            EXPECT_TRUE(status.ok() || absl::IsNotFound(status)) << status;
            break;
          }
          case 2: {
            absl::Status status = host->Reload(name, TestModule(module));
            if (status.ok()) {
              ++reloads_ok;
            } else {
              if (absl::IsFailedPrecondition(status)) ++reloads_failed_init;
              ExpectAllowedError(status, name, "Reload");
            }
            break;
          }
          case 3: {
            absl::Status status = host->Prewarm(name, 1 + static_cast<int>(rng() % 4));
            EXPECT_TRUE(status.ok() || absl::IsNotFound(status)) << status;
            break;
          }
          case 4: {
            absl::Status status = host->PrewarmAndWait(name, 1 + static_cast<int>(rng() % 4));
            if (!status.ok()) ExpectAllowedError(status, name, "PrewarmAndWait");
            break;
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    std::mt19937 rng(3000);
    for (int n = 0; n < kMaintenanceOps; ++n) {
      // Past idle timeouts (scale to zero races with calls) and queued calls' deadlines.
      clock.Advance(absl::Milliseconds(rng() % 1500));
      HostForTesting::RunMaintenance(*host);
      if (n % 10 == 0) EXPECT_THAT(metrics.RenderPrometheus(), HasSubstr("faas_invocations"));
    }
  });
  threads.emplace_back([&] {
    for (int n = 0; n < kObservations; ++n) {
      ExpectPoolsWithinBounds(*host);
      std::this_thread::yield();
    }
  });
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(calls_ok + calls_failed, kInvokers * kCallsPerInvoker);
  EXPECT_GT(calls_ok, 0);
  std::printf("calls ok %d, failed %d (", calls_ok.load(), calls_failed.load());
  for (size_t code = 1; code < calls_by_code.size(); ++code) {
    if (calls_by_code[code] == 0) continue;
    std::printf(" %s %d", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)).c_str(),
                calls_by_code[code].load());
  }
  std::printf(" ); reloads ok %d, failed init %d\n", reloads_ok.load(),
              reloads_failed_init.load());

  // Settled: pending prewarms run and the pools are topped up to min_instances, except for a
  // function whose current module cannot initialise.
  HostForTesting::RunMaintenance(*host);
  ExpectPoolsWithinBounds(*host);
  for (const FunctionStatus& status : host->ListFunctions()) {
    SCOPED_TRACE(status.name);
    EXPECT_EQ(status.busy_instances, 0);
    EXPECT_EQ(status.queued_calls, 0);
    if (absl::EndsWith(status.module_path, "init_fails.so")) continue;
    EXPECT_GE(status.idle_instances, MinInstances(std::stoi(status.name.substr(1))));
  }
  // Every function still answers, or refuses with its init error.
  for (int i = 0; i < kFunctions; ++i) {
    const std::string name = FunctionName(i);
    absl::StatusOr<std::string> reply = host->Invoke(name, "7");
    if (reply.ok()) {
      EXPECT_TRUE(IsModuleResponse(*reply, "7")) << *reply;
    } else {
      ExpectAllowedError(reply.status(), name, "final Invoke");
      EXPECT_FALSE(absl::IsResourceExhausted(reply.status()) ||
                   absl::IsDeadlineExceeded(reply.status()))
          << "nothing else is running";
    }
  }
}

// Looking at a function while its module loads sees it either not loaded (no version yet) or
// loaded with its version, never a half-loaded state. Under ThreadSanitizer this is also the
// smallest reproducer of a status read racing the loader.
TEST(HostStressTest, ListFunctionsWhileTheModuleLoads) {
  HostOptions options;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  for (int round = 0; round < 5; ++round) {
    const std::string name = absl::StrCat("load", round);
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule("hello");
    ASSERT_TRUE(host->Register(spec).ok());
    std::thread loader([&] { EXPECT_TRUE(host->PrewarmAndWait(name, 1).ok()); });
    EXPECT_TRUE(testing::WaitUntil([&] {
      for (const FunctionStatus& status : host->ListFunctions()) {
        if (status.name != name) continue;
        EXPECT_EQ(status.module_version, status.loaded ? "1.0.0" : "");
        return status.loaded;
      }
      return false;
    }));
    loader.join();
    host->PublishGauges();
  }
}


class UnregisterRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options = testing::ManualHostOptions(&clock_, &metrics_);
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host_));
  }
  // Registers `name` serving a private copy of a test module (so that whether it is still
  // mapped says whether this function's load was undone); returns the copy's path.
  std::string RegisterCopy(const std::string& name, int max_instances, int concurrency,
                           int max_queue) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = dir_.Copy(TestModule(name), name + ".so");
    spec.pool.max_instances = max_instances;
    spec.pool.max_concurrency_per_instance = concurrency;
    spec.pool.max_queue = max_queue;
    EXPECT_TRUE(host_->Register(spec).ok());
    return spec.module_path;
  }
  template <typename Predicate>
  ::testing::AssertionResult AwaitStatus(const std::string& name, Predicate predicate) {
    return testing::AwaitStatus(*host_, name, predicate);
  }

  TempDir dir_;
  FakeClock clock_;
  MetricsAggregator metrics_;
  std::unique_ptr<Host> host_;
};

// Calls running and queued when Unregister comes finish OK; later calls get NOT_FOUND at once;
// the module is unloaded when the last call returns.
TEST_F(UnregisterRaceTest, InFlightCallsFinishLaterOnesAreRefusedThenTheModuleUnloads) {
  const std::string module = RegisterCopy("gate", /*max_instances=*/3, /*concurrency=*/1,
                                         /*max_queue=*/4);
  absl::StatusOr<FunctionHandle> handle = host_->Lookup("gate");
  ASSERT_TRUE(handle.ok()) << handle.status();
  // Declared before the gate: a test that ends early opens the gate before waiting for them.
  std::vector<std::future<absl::StatusOr<std::string>>> calls;
  Gate gate;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return host_->Invoke("gate", gate.request()); }));
  }
  ASSERT_TRUE(AwaitStatus("gate", [](const FunctionStatus& s) {
    return s.busy_instances == 3 && s.queued_calls == 1;
  }));
  ASSERT_TRUE(IsLoaded(module));

  ASSERT_TRUE(host_->Unregister("gate").ok());
  absl::StatusOr<std::string> by_name = host_->Invoke("gate", "x");
  EXPECT_TRUE(absl::IsNotFound(by_name.status())) << by_name.status();
  std::string response;
  absl::Status by_handle = host_->Invoke(*handle, "x", &response);
  EXPECT_TRUE(absl::IsNotFound(by_handle)) << by_handle;
  EXPECT_THAT(by_handle.message(), HasSubstr("'gate'"));
  EXPECT_TRUE(IsLoaded(module)) << "unloaded while calls were still running";
  EXPECT_EQ(metrics_.Totals("gate").unloads, 0);

  ASSERT_TRUE(gate.Release(4));
  for (auto& call : calls) EXPECT_THAT(AwaitResult(call), IsOkAndHolds("released"));
  // The last call out destroyed the instances and the state and dlclosed the module.
  EXPECT_EQ(metrics_.Totals("gate").unloads, 1);
  EXPECT_EQ(metrics_.Totals("gate").failed_unloads, 0);
  EXPECT_FALSE(IsLoaded(module));
  EXPECT_TRUE(absl::IsNotFound(host_->Invoke(*handle, "x", &response)));
}

// Threads call through handles and by name while Unregister happens: each call either
// succeeds or gets NOT_FOUND; a call started after Unregister returned always gets NOT_FOUND;
// the module is unloaded exactly once, after the last call.
TEST_F(UnregisterRaceTest, CallsRacingUnregisterEndOkOrNotFound) {
  const std::string module = RegisterCopy("counting", /*max_instances=*/2, /*concurrency=*/0,
                                         /*max_queue=*/16);
  absl::StatusOr<FunctionHandle> looked_up = host_->Lookup("counting");
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  const FunctionHandle handle = *looked_up;

  constexpr int kThreads = 4;
  constexpr int kCallsBefore = 400;  // started, all threads together, before Unregister
  constexpr int kCallsAfter = 50;    // started by each thread after Unregister returned
  std::atomic<int> started{0};
  std::atomic<bool> unregistered{false};
  std::atomic<int> ok{0};
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string response;
      for (int n = 0, after = 0; after < kCallsAfter; ++n) {
        const bool after_unregister = unregistered.load();
        if (after_unregister) ++after;
        ++started;
        absl::Status status = (t + n) % 2 == 0
                                  ? host_->Invoke(handle, "x", &response)
                                  : host_->Invoke("counting", "x").status();
        if (status.ok()) {
          EXPECT_FALSE(after_unregister) << "a call started after Unregister succeeded";
          ++ok;
        } else {
          EXPECT_TRUE(absl::IsNotFound(status)) << status;
          ++not_found;
        }
      }
    });
  }
  // Unregister in the middle of the calls (or, if they stall, once the wait gives up: the
  // threads end only after it).
  EXPECT_TRUE(testing::WaitUntil([&] { return started.load() >= kCallsBefore; }));
  EXPECT_TRUE(host_->Unregister("counting").ok());
  unregistered = true;
  for (std::thread& thread : threads) thread.join();

  EXPECT_GE(ok, kCallsBefore - kThreads);  // all but those in flight at Unregister
  EXPECT_GE(not_found, kThreads * kCallsAfter);
  EXPECT_EQ(ok + not_found, started);
  EXPECT_EQ(metrics_.Totals("counting").unloads, 1);
  EXPECT_EQ(metrics_.Totals("counting").failed_unloads, 0);
  EXPECT_FALSE(IsLoaded(module));
}

}  // namespace
}  // namespace fnhost
