// Issue 3, item 7, end to end: a real pool, driven through the Host, reports its gauges (idle
// and busy instances, queue depth) and its counters (evictions, unloads, reloads, rejected
// calls by reason) through the metrics hook, and the built-in aggregator renders them in the
// Prometheus output. Calls are held busy by the gate module's pipe; time moves by FakeClock.
#include <future>
#include <mutex>
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
using ::testing::ElementsAre;

// Records what the hook receives and passes every event on to the aggregator.
class TeeSink final : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override { aggregator.OnColdStart(event); }
  void OnInvocation(const InvocationEvent& event) override { aggregator.OnInvocation(event); }
  void OnPoolEvent(const PoolEvent& event) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::string entry = Name(event.kind);
      if (!event.reason.empty()) entry += ":" + std::string(event.reason);
      events_.push_back(entry);
    }
    aggregator.OnPoolEvent(event);
  }
  void OnPoolGauges(const PoolGauges& gauges) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_gauges_ = gauges;
      last_gauges_.function = {};  // not valid after the call
    }
    aggregator.OnPoolGauges(gauges);
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  PoolGauges last_gauges() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_gauges_;
  }

  MetricsAggregator aggregator;

 private:
  static std::string Name(PoolEventKind kind) {
    switch (kind) {
      case PoolEventKind::kEviction:
        return "eviction";
      case PoolEventKind::kUnload:
        return "unload";
      case PoolEventKind::kUnloadFailed:
        return "unload_failed";
      case PoolEventKind::kReload:
        return "reload";
      case PoolEventKind::kRejected:
        return "rejected";
      case PoolEventKind::kPrewarm:
        return "prewarm";
      case PoolEventKind::kBudgetEviction:
        return "budget_eviction";
    }
    return "?";
  }

  std::mutex mu_;
  std::vector<std::string> events_;
  PoolGauges last_gauges_;
};

TEST(PoolMetricsTest, GaugesAndCountersReachTheHookAndThePrometheusOutput) {
  FakeClock clock;
  TeeSink sink;
  HostOptions options = testing::ManualHostOptions(&clock, &sink);
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  FunctionSpec spec;
  spec.name = "f";
  spec.module_path = TestModule("gate");
  spec.pool.max_instances = 1;
  spec.pool.max_concurrency_per_instance = 1;
  spec.pool.max_queue = 2;
  ASSERT_TRUE(host->Register(spec).ok());
  absl::StatusOr<FunctionHandle> handle = host->Lookup("f");
  ASSERT_TRUE(handle.ok()) << handle.status();
  auto await = [&](auto predicate) { return testing::AwaitStatus(*host, "f", predicate); };

  // One call busy, two queued (one of them with a short deadline), one refused. The calls are
  // declared before the gate: a test that ends early opens the gate before waiting for them.
  std::future<absl::StatusOr<std::string>> busy, queued, late;
  Gate gate;
  busy = std::async(std::launch::async, [&] { return host->Invoke("f", gate.request()); });
  ASSERT_TRUE(await([](const FunctionStatus& s) { return s.busy_instances == 1; }));
  queued = std::async(std::launch::async, [&] { return host->Invoke("f", "plain"); });
  ASSERT_TRUE(await([](const FunctionStatus& s) { return s.queued_calls == 1; }));
  CallOptions short_deadline;
  short_deadline.timeout = absl::Seconds(2);
  late = std::async(std::launch::async, [&] { return host->Invoke("f", "plain", short_deadline); });
  ASSERT_TRUE(await([](const FunctionStatus& s) { return s.queued_calls == 2; }));
  EXPECT_EQ(host->Invoke("f", "plain").status().code(), absl::StatusCode::kResourceExhausted);

  host->PublishGauges();
  PoolGauges gauges = sink.last_gauges();
  EXPECT_EQ(gauges.busy_instances, 1);
  EXPECT_EQ(gauges.idle_instances, 0);
  EXPECT_EQ(gauges.queued_calls, 2);
  std::string text = sink.aggregator.RenderPrometheus();
  auto sample = [&text](const std::string& series) { return PrometheusValue(text, series); };
  EXPECT_EQ(sample(R"(fnhost_pool_busy_instances{function="f"})"), "1");
  EXPECT_EQ(sample(R"(fnhost_pool_idle_instances{function="f"})"), "0");
  EXPECT_EQ(sample(R"(fnhost_pool_queued_calls{function="f"})"), "2");

  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(AwaitResult(late).status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(gate.Release());
  EXPECT_THAT(AwaitResult(busy), IsOkAndHolds("released"));
  EXPECT_THAT(AwaitResult(queued), IsOkAndHolds("done"));
  host->PublishGauges();
  gauges = sink.last_gauges();
  EXPECT_EQ(gauges.busy_instances, 0);
  EXPECT_EQ(gauges.idle_instances, 1);
  EXPECT_EQ(gauges.queued_calls, 0);

  // A reload drains the old version (not an eviction); keep-alive evicts and scales to zero.
  ASSERT_TRUE(host->Reload("f", TestModule("hello")).ok());
  EXPECT_THAT(host->Invoke("f", "x"), IsOkAndHolds("hello, x"));
  clock.Advance(absl::Minutes(11));
  HostForTesting::RunMaintenance(*host);  // also publishes the gauges
  EXPECT_EQ(sink.last_gauges().idle_instances, 0);
  EXPECT_FALSE(sink.last_gauges().loaded);
  ASSERT_TRUE(host->Unregister("f").ok());
  std::string response;
  EXPECT_EQ(host->Invoke(*handle, "x", &response).code(), absl::StatusCode::kNotFound);

  // The test modules are built to leave memory on dlclose; a failed unload would say why not.
  EXPECT_THAT(sink.events(), ElementsAre("rejected:queue_full", "rejected:deadline", "reload:init",
                                         "unload", "eviction", "unload", "rejected:unregistered"));
  text = sink.aggregator.RenderPrometheus();
  EXPECT_EQ(sample(R"(fnhost_pool_events_total{function="f",event="eviction"})"), "1");
  EXPECT_EQ(sample(R"(fnhost_pool_events_total{function="f",event="unload"})"), "2");
  EXPECT_EQ(sample(R"(fnhost_pool_events_total{function="f",event="unload_failed"})"), "0");
  EXPECT_EQ(sample(R"(fnhost_pool_events_total{function="f",event="reload"})"), "1");
  for (const char* reason : {"queue_full", "deadline", "unregistered"}) {
    EXPECT_EQ(sample(std::string(R"(fnhost_rejected_calls_total{function="f",reason=")") + reason +
                     "\"}"),
              "1")
        << reason;
  }
  EXPECT_EQ(sample(R"(fnhost_module_loaded{function="f"})"), "0");
}

}  // namespace
}  // namespace fnhost
