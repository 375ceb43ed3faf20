// The warm path makes no heap allocation for a small response when the caller reuses its
// response string (issue: "a test counts allocations"), through Invoke and through an inline
// InvokeAsync (its completion a small lambda, held inline by the AnyInvocable).
#include <atomic>
#include <cstdlib>
#include <new>

#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#define FNHOST_COUNTS_ALLOCATIONS 1
#endif

namespace fnhost {
namespace {

// Makes 1000 warm calls, through Invoke or (`async`) through InvokeAsync, where the warm call
// and its completion run inline.
void CountWarmCalls(MetricsSink* sink, bool async = false) {
#ifndef FNHOST_COUNTS_ALLOCATIONS
  GTEST_SKIP() << "sanitizers replace operator new";
#else
  HostOptions options;
  options.metrics_sink = sink;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  FunctionSpec spec;
  spec.name = "noop";
  spec.module_path = testing::TestModule("noop");
  ASSERT_TRUE(host->Register(spec).ok());
  absl::StatusOr<FunctionHandle> looked_up = host->Lookup("noop");
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  const FunctionHandle handle = *looked_up;
  std::string response;
  response.reserve(64);
  ASSERT_TRUE(host->Invoke(handle, "request", &response).ok());  // the cold start allocates
  ASSERT_TRUE(host->Invoke(handle, "request", &response).ok());  // first-seen metrics records

  g_allocations = 0;
  g_counting = true;
  int completed = 0;
  for (int i = 0; i < 1000; ++i) {
    if (async) {
      host->InvokeAsync(handle, "request", &response,
                        [&completed](absl::Status status, std::string*) {
                          completed += status.ok();
                        });
    } else if (!host->Invoke(handle, "request", &response).ok()) {
      break;
    }
  }
  g_counting = false;
  if (async) EXPECT_EQ(completed, 1000);  // every completion ran inline
  EXPECT_EQ(response, "ok");
  EXPECT_EQ(g_allocations.load(), 0);
#endif
}

TEST(WarmPathAllocationTest, NoHeapAllocationWithoutMetrics) {
  ASSERT_NO_FATAL_FAILURE(CountWarmCalls(nullptr));
}

TEST(WarmPathAllocationTest, NoHeapAllocationWithTheBuiltInAggregator) {
  MetricsAggregator aggregator;
  ASSERT_NO_FATAL_FAILURE(CountWarmCalls(&aggregator));
}

TEST(WarmPathAllocationTest, NoHeapAllocationThroughInvokeAsyncInline) {
  MetricsAggregator aggregator;
  ASSERT_NO_FATAL_FAILURE(CountWarmCalls(&aggregator, /*async=*/true));
}

}  // namespace
}  // namespace fnhost
