// The traffic split's routing on its own (host/router.h): exact, deterministic shares, with no
// randomness, as Host::SetCanary promises.
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "src/host/router.h"

namespace fnhost::internal {
namespace {

// How many of the next `calls` decisions go to the canary.
int CanaryCalls(CanaryRouter& router, int calls) {
  int canary = 0;
  for (int i = 0; i < calls; ++i) canary += router.Next() ? 1 : 0;
  return canary;
}

TEST(RouterTest, AQuarterShareSendsEveryFourthCall) {
  CanaryRouter router;
  router.SetShare(250'000);
  for (int round = 0; round < 100; ++round) {
    EXPECT_EQ(CanaryCalls(router, 4), 1) << "round " << round;
  }
}

TEST(RouterTest, TheFirstCallsAfterASetShareGiveTheRoundedShare) {
  for (const uint32_t share : {1u, 10'000u, 333'333u, 500'000u, 990'000u, 1'000'000u}) {
    for (const int calls : {1, 3, 7, 100, 1001}) {
      CanaryRouter router;
      router.SetShare(share);
      EXPECT_EQ(CanaryCalls(router, calls), std::llround(calls * (share / 1e6)))
          << "share " << share << ", " << calls << " calls";
    }
  }
}

TEST(RouterTest, AnyRunOfCallsGetsTheFloorOrOneMore) {
  CanaryRouter router;
  router.SetShare(123'457);
  std::vector<bool> decisions;
  for (int i = 0; i < 5000; ++i) decisions.push_back(router.Next());
  for (int length : {10, 97, 1000}) {
    const int floor = static_cast<int>(length * 0.123457);
    for (size_t start = 0; start + length <= decisions.size(); start += 37) {
      int canary = 0;
      for (int i = 0; i < length; ++i) canary += decisions[start + i] ? 1 : 0;
      EXPECT_GE(canary, floor);
      EXPECT_LE(canary, floor + 1);
    }
  }
}

TEST(RouterTest, ClearedSendsEverythingToTheStableVersion) {
  CanaryRouter router;
  router.SetShare(1'000'000);
  EXPECT_EQ(CanaryCalls(router, 10), 10);
  router.Clear();
  EXPECT_EQ(CanaryCalls(router, 10), 0);
  EXPECT_EQ(router.share(), 0);
}

TEST(RouterTest, SharesOutsideZeroToOneAreRefusedNamingTheFunction) {
  for (double share : {-0.01, 1.01, std::numeric_limits<double>::quiet_NaN()}) {
    absl::StatusOr<uint32_t> millionths = CanaryRouter::ShareInMillionths("f", share);
    ASSERT_FALSE(millionths.ok()) << share;
    EXPECT_TRUE(absl::IsInvalidArgument(millionths.status()));
    EXPECT_EQ(millionths.status().message().substr(0, 15), "function 'f': c");
  }
  EXPECT_EQ(*CanaryRouter::ShareInMillionths("f", 0.25), 250'000u);
  EXPECT_EQ(*CanaryRouter::ShareInMillionths("f", 1), 1'000'000u);
}

}  // namespace
}  // namespace fnhost::internal
