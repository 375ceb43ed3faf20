// The host's pool and the simulator feed the keep-alive controller the same way: a generated
// trace replayed through a real Host on a FakeClock (calls held busy by the gate module until
// the test ends them on the fake clock) and through fnhost sim's SimulateFunction gives the same
// cold starts, evictions and prewarms for every function.

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "fnhost/metrics.h"
#include "gtest/gtest.h"
#include "src/policy/keep_alive_policy.h"
#include "src/sim/simulator.h"
#include "src/sim/trace.h"
#include "src/sim/trace_generator.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

constexpr absl::Duration kLength = absl::Hours(3);
constexpr int kFunctions = 20;
// Real time a step of the test may take before it fails rather than hangs.
constexpr auto kStepBound = std::chrono::seconds(30);

// Per function: cold starts for callers, prewarms and keep-alive evictions.
struct Counts {
  int64_t cold_starts = 0;
  int64_t prewarms = 0;
  int64_t evictions = 0;
  bool operator==(const Counts&) const = default;
};

class CountingSink final : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!event.prewarm) ++counts_[std::string(event.function)].cold_starts;
  }
  void OnInvocation(const InvocationEvent&) override {}
  void OnPoolEvent(const PoolEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    Counts& counts = counts_[std::string(event.function)];
    if (event.kind == PoolEventKind::kPrewarm) ++counts.prewarms;
    if (event.kind == PoolEventKind::kEviction) ++counts.evictions;
  }
  Counts Get(const std::string& function) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[function];
  }

 private:
  std::mutex mu_;
  std::map<std::string, Counts> counts_;
};

struct Function {
  std::string name;
  double memory_mb = 0;
  std::vector<sim::Call> calls;  // whole seconds, all ending before kLength
};

// Functions of a generated trace with a few dozen to a few hundred calls in kLength, on whole
// seconds, each call lasting 1 to 2 minutes so that calls overlap.
std::vector<Function> PickFunctions() {
  absl::StatusOr<sim::Trace> trace = sim::GenerateTrace({.functions = 200, .days = 1, .seed = 3});
  EXPECT_TRUE(trace.ok()) << trace.status();
  std::vector<Function> picked;
  if (!trace.ok()) return picked;
  for (const sim::TraceFunction& function : trace->functions) {
    Function one{absl::StrCat("f", picked.size()), function.memory_mb, {}};
    for (const sim::Call& call : sim::ExpandCalls(function, /*seed=*/1)) {
      const absl::Duration arrival = absl::Floor(call.arrival, absl::Seconds(1));
      const absl::Duration duration =
          absl::Seconds(60 + static_cast<int64_t>(absl::ToDoubleSeconds(arrival)) % 61);
      if (arrival + duration < kLength - absl::Minutes(1)) {
        one.calls.push_back({arrival, duration});
      }
    }
    if (one.calls.size() >= 20 && one.calls.size() <= 300) picked.push_back(std::move(one));
    if (picked.size() == kFunctions) break;
  }
  return picked;
}

// The most calls running at once.
int MaxConcurrency(const std::vector<sim::Call>& calls) {
  std::multimap<absl::Duration, int> deltas;
  for (const sim::Call& call : calls) {
    deltas.emplace(call.arrival, 1);
    deltas.emplace(call.arrival + call.duration, -1);
  }
  int running = 0, most = 0;
  for (const auto& [time, delta] : deltas) most = std::max(most, running += delta);
  return most;
}

// Calls held in the gate module, one blocked thread each; End lets one of a function's calls
// return and waits until the host has released its instance.
class HeldCalls {
 public:
  explicit HeldCalls(Host& host) : host_(host) {}
  ~HeldCalls() {
    for (auto& [name, gate] : gates_) gate->Release(1000);
    for (std::thread& thread : threads_) thread.join();
  }

  // Starts a call and waits until it holds an instance.
  bool Start(const std::string& name) {
    const int busy = Busy(name);
    std::unique_ptr<testing::Gate>& gate = gates_[name];
    if (gate == nullptr) gate = std::make_unique<testing::Gate>();
    threads_.emplace_back([this, name, request = gate->request()] {
      absl::StatusOr<std::string> reply = host_.Invoke(name, request);
      std::lock_guard<std::mutex> lock(mu_);
      if (!reply.ok()) failures_.push_back(std::string(reply.status().message()));
      ++finished_[name];
      cv_.notify_all();
    });
    const auto bound = std::chrono::steady_clock::now() + kStepBound;
    while (Busy(name) != busy + 1) {
      if (std::chrono::steady_clock::now() > bound) return false;
      std::this_thread::yield();
    }
    return true;
  }

  bool End(const std::string& name) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t finished = finished_[name];
    if (!gates_[name]->Release()) return false;
    return cv_.wait_for(lock, kStepBound, [&] { return finished_[name] == finished + 1; });
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  int Busy(const std::string& name) {
    for (const FunctionStatus& status : host_.ListFunctions()) {
      if (status.name == name) return status.busy_instances;
    }
    return -1;
  }

  Host& host_;
  std::map<std::string, std::unique_ptr<testing::Gate>> gates_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int64_t> finished_;
  std::vector<std::string> failures_;
};

// Replays `functions` through a Host: at every whole second, a maintenance pass, the calls
// ending then, another pass (as the simulator decides after each end), and the calls arriving.
void ReplayThroughHost(const std::vector<Function>& functions, const std::string& policy,
                       std::map<std::string, Counts>* counts) {
  FakeClock clock(absl::UnixEpoch());
  CountingSink sink;
  absl::StatusOr<std::unique_ptr<Host>> host =
      HostForTesting::Create(testing::ManualHostOptions(&clock, &sink));
  ASSERT_TRUE(host.ok()) << host.status();
  // Per second of the trace: the functions whose calls end, and those whose calls arrive.
  std::map<int64_t, std::vector<const Function*>> ends, arrivals;
  for (const Function& function : functions) {
    FunctionSpec spec;
    spec.name = function.name;
    spec.module_path = testing::TestModule("gate");
    spec.pool.max_concurrency_per_instance = 1;
    spec.pool.max_instances = 1000;
    absl::StatusOr<KeepAliveOptions> keep_alive = ParsePolicySpec(policy);
    ASSERT_TRUE(keep_alive.ok()) << keep_alive.status();
    spec.pool.keep_alive = *keep_alive;
    spec.pool.keep_alive.instance_memory_mb = function.memory_mb;
    ASSERT_TRUE((*host)->Register(spec).ok());
    for (const sim::Call& call : function.calls) {
      arrivals[absl::ToInt64Seconds(call.arrival)].push_back(&function);
      ends[absl::ToInt64Seconds(call.arrival + call.duration)].push_back(&function);
    }
  }
  HeldCalls held(**host);
  for (int64_t second = 0; second <= absl::ToInt64Seconds(kLength); ++second) {
    clock.SetTime(absl::UnixEpoch() + absl::Seconds(second));
    HostForTesting::RunMaintenance(**host);
    if (auto it = ends.find(second); it != ends.end()) {
      for (const Function* function : it->second) {
        ASSERT_TRUE(held.End(function->name)) << function->name << " at " << second << " s";
      }
      HostForTesting::RunMaintenance(**host);
    }
    if (auto it = arrivals.find(second); it != arrivals.end()) {
      for (const Function* function : it->second) {
        ASSERT_TRUE(held.Start(function->name)) << function->name << " at " << second << " s";
      }
    }
  }
  EXPECT_TRUE(held.failures().empty()) << held.failures().front();
  for (const Function& function : functions) (*counts)[function.name] = sink.Get(function.name);
}

class KeepAliveReplayTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KeepAliveReplayTest, HostAndSimulatorMakeTheSameDecisions) {
  const std::vector<Function> functions = PickFunctions();
  ASSERT_EQ(functions.size(), kFunctions);
  int most_concurrent = 0;
  for (const Function& function : functions) {
    most_concurrent = std::max(most_concurrent, MaxConcurrency(function.calls));
  }
  ASSERT_GE(most_concurrent, 3) << "the trace must exercise levels above the first";

  std::map<std::string, Counts> host_counts;
  ASSERT_NO_FATAL_FAILURE(ReplayThroughHost(functions, GetParam(), &host_counts));
  absl::StatusOr<KeepAliveOptions> options = ParsePolicySpec(GetParam());
  ASSERT_TRUE(options.ok());
  int64_t total_evictions = 0;
  for (const Function& function : functions) {
    const sim::FunctionResult simulated =
        sim::SimulateFunction(function.calls, function.memory_mb, *options, kLength);
    const Counts expected{simulated.cold_starts, simulated.prewarm_loads, simulated.evictions};
    const Counts& got = host_counts[function.name];
    EXPECT_EQ(got.cold_starts, expected.cold_starts) << function.name;
    EXPECT_EQ(got.prewarms, expected.prewarms) << function.name;
    EXPECT_EQ(got.evictions, expected.evictions) << function.name;
    total_evictions += got.evictions;
  }
  EXPECT_GT(total_evictions, 0);
}

INSTANTIATE_TEST_SUITE_P(Policies, KeepAliveReplayTest,
                         ::testing::Values("hybrid", "fixed:5m"),
                         [](const auto& info) {
                           return info.param == "hybrid" ? std::string("hybrid")
                                                         : std::string("fixed5m");
                         });

}  // namespace
}  // namespace fnhost
