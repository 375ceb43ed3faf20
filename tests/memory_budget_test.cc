// The Greedy-Dual order (src/policy/greedy_dual.h) and the host's MemoryBudget alone, with
// fake functions whose idle instances the test sets: which instance MakeRoom evicts (priorities
// worked out by hand), the clock as it stood when an instance went idle, the requester's own
// instances, busy memory, and who Free and Poke wake. All times are passed in.

#include "src/host/memory_budget.h"

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/policy/greedy_dual.h"

namespace fnhost::internal {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kT1 = kT0 + absl::Minutes(1);
const absl::Time kT2 = kT0 + absl::Minutes(2);
constexpr int64_t kMb = 1024 * 1024;

TEST(GreedyDualTest, PriorityIsCallsTimesCostPerGbAboveTheClock) {
  EXPECT_DOUBLE_EQ(GreedyDualPriority(0, 3, kUniformColdStartCost, 128), 24);
  EXPECT_DOUBLE_EQ(GreedyDualPriority(4, 1, kUniformColdStartCost, 256), 8);
  EXPECT_DOUBLE_EQ(GreedyDualPriority(0, 2, 3, 1024), 6);
  // Less than 1 MB counts as 1 MB.
  EXPECT_DOUBLE_EQ(GreedyDualPriority(0, 1, 1, 0), 1024);
}

TEST(GreedyDualTest, ClockRisesToEachEvictionAndRemembersWhen) {
  GreedyDualClock clock(/*history=*/8);
  clock.Evicted(4, kT0);
  clock.Evicted(2, kT0);  // never down
  EXPECT_EQ(clock.value(), 4);
  clock.Evicted(9, kT1);
  clock.Evicted(11, kT1);  // the same time: one entry, the last value
  EXPECT_EQ(clock.value(), 11);
  EXPECT_EQ(clock.At(kT0 - absl::Seconds(1)), 0);
  EXPECT_EQ(clock.At(kT0), 0);  // at the start of kT0, before its evictions
  EXPECT_EQ(clock.At(kT0 + absl::Seconds(1)), 4);
  EXPECT_EQ(clock.At(kT1), 4);
  EXPECT_EQ(clock.At(kT2), 11);
}

TEST(GreedyDualTest, TimesOlderThanTheHistoryReadAsItsOldestValue) {
  GreedyDualClock clock(/*history=*/2);
  clock.Evicted(1, kT0);
  clock.Evicted(2, kT1);
  clock.Evicted(3, kT2);  // drops kT0's entry
  EXPECT_EQ(clock.At(kT0), 1);
  EXPECT_EQ(clock.At(kT1), 1);
  EXPECT_EQ(clock.At(kT2), 2);
  GreedyDualClock without_history;
  without_history.Evicted(5, kT0);
  EXPECT_EQ(without_history.At(kT0 - absl::Hours(1)), 5);
}

// A function whose idle instances (oldest first) the test sets; evicting one credits the budget.
class FakeFunction : public MemoryBudget::Member {
 public:
  FakeFunction(MemoryBudget* budget, double memory_mb) : budget_(budget), mb_(memory_mb) {}

  // Charges and adds an idle instance that went idle at `since`.
  bool AddIdle(absl::Time since) {
    if (!budget_->TryCharge(MemoryBudget::Bytes(mb_))) return false;
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(since);
    return true;
  }
  // A call takes the newest idle instance (it stays charged: busy).
  void TakeIdle() {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.pop_back();
  }
  void set_calls(int64_t calls) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_ = calls;
  }
  int idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(idle_.size());
  }
  int evicted() {
    std::lock_guard<std::mutex> lock(mu_);
    return evicted_;
  }
  int wakeups() {
    std::lock_guard<std::mutex> lock(mu_);
    return wakeups_;
  }
  // The next EvictOldestIdle finds its candidate taken by a call.
  void LoseNextEvictions(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    lose_ = count;
  }

  bool OldestIdle(absl::Time* idle_since, int64_t* calls) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.empty()) return false;
    *idle_since = idle_.front();
    *calls = calls_;
    return true;
  }
  double instance_memory_mb() const override { return mb_; }
  bool EvictOldestIdle(absl::Time idle_since, absl::Time now) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (lose_ > 0) {
        --lose_;
        return false;
      }
      if (idle_.empty() || idle_.front() > idle_since) return false;
      idle_.pop_front();
      ++evicted_;
    }
    budget_->Free(MemoryBudget::Bytes(mb_));  // destroyed, with no lock held
    return true;
  }
  void WakeMemoryWaiters() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }

 private:
  MemoryBudget* const budget_;
  const double mb_;
  std::mutex mu_;
  std::deque<absl::Time> idle_;
  int64_t calls_ = 0;
  int evicted_ = 0;
  int wakeups_ = 0;
  int lose_ = 0;
};

class MemoryBudgetTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeFunction> Join(double memory_mb) {
    auto function = std::make_shared<FakeFunction>(&budget_, memory_mb);
    budget_.Add(function);
    return function;
  }

  MemoryBudget budget_{/*capacity_mb=*/384};
};

TEST_F(MemoryBudgetTest, ChargesUpToTheCapacityAndKeepsThePeak) {
  EXPECT_EQ(budget_.capacity_bytes(), 384 * kMb);
  EXPECT_TRUE(budget_.TryCharge(256 * kMb));
  EXPECT_FALSE(budget_.TryCharge(256 * kMb));
  EXPECT_TRUE(budget_.TryCharge(128 * kMb));
  budget_.Free(384 * kMb);
  const HostGauges gauges = budget_.Gauges();
  EXPECT_EQ(gauges.memory_budget_bytes, 384 * kMb);
  EXPECT_EQ(gauges.memory_used_bytes, 0);
  EXPECT_EQ(gauges.memory_peak_bytes, 384 * kMb);
}

TEST_F(MemoryBudgetTest, EvictsTheLowestPriorityByCallsSizeAndWhenItWentIdle) {
  std::shared_ptr<FakeFunction> c = Join(128);  // first: ties of priority would go to it
  std::shared_ptr<FakeFunction> a = Join(128);
  std::shared_ptr<FakeFunction> b = Join(256);
  a->set_calls(3);  // 0 + 3 / 0.125 GB = 24
  b->set_calls(1);  // 0 + 1 / 0.25 GB = 4
  ASSERT_TRUE(a->AddIdle(kT0));
  ASSERT_TRUE(b->AddIdle(kT0));
  // c's first instance: b goes, and the clock rises to 4.
  ASSERT_TRUE(budget_.MakeRoom(128 * kMb, c.get(), kT0));
  EXPECT_EQ(b->evicted(), 1);
  EXPECT_EQ(a->evicted(), 0);
  EXPECT_EQ(budget_.clock(), 4);
  c->set_calls(3);
  ASSERT_TRUE(c->AddIdle(kT1));  // idle after the clock rose: 4 + 24 = 28
  // Room for b: a (24, idle since kT0) goes before c (28), with the same calls and size.
  ASSERT_TRUE(budget_.MakeRoom(256 * kMb, b.get(), kT1));
  EXPECT_EQ(a->evicted(), 1);
  EXPECT_EQ(c->evicted(), 0);
  EXPECT_EQ(budget_.clock(), 24);
  EXPECT_EQ(budget_.evictions(), 2);
}

TEST_F(MemoryBudgetTest, NeverEvictsTheRequesterNorBusyMemory) {
  std::shared_ptr<FakeFunction> a = Join(128);
  std::shared_ptr<FakeFunction> b = Join(256);
  ASSERT_TRUE(a->AddIdle(kT0));
  ASSERT_TRUE(b->AddIdle(kT0));
  b->TakeIdle();  // busy
  EXPECT_FALSE(budget_.MakeRoom(128 * kMb, a.get(), kT0));
  EXPECT_EQ(a->evicted(), 0);
  EXPECT_EQ(a->idle(), 1);
  EXPECT_EQ(budget_.Gauges().memory_used_bytes, 384 * kMb);
  // Without a requester (a version staged off the request path) a's idle instance may go.
  EXPECT_TRUE(budget_.MakeRoom(128 * kMb, nullptr, kT0));
  EXPECT_EQ(a->evicted(), 1);
}

TEST_F(MemoryBudgetTest, EqualPrioritiesGoInTheOrderTheFunctionsJoined) {
  std::shared_ptr<FakeFunction> first = Join(128);
  std::shared_ptr<FakeFunction> second = Join(128);
  std::shared_ptr<FakeFunction> requester = Join(128);
  ASSERT_TRUE(second->AddIdle(kT0));
  ASSERT_TRUE(first->AddIdle(kT0));
  ASSERT_TRUE(requester->AddIdle(kT0));
  ASSERT_TRUE(budget_.MakeRoom(128 * kMb, requester.get(), kT0));
  EXPECT_EQ(first->evicted(), 1);
  EXPECT_EQ(second->evicted(), 0);
}

TEST_F(MemoryBudgetTest, GivesUpWhenCallsKeepTakingTheCandidate) {
  std::shared_ptr<FakeFunction> a = Join(384);
  std::shared_ptr<FakeFunction> requester = Join(128);
  ASSERT_TRUE(a->AddIdle(kT0));
  a->LoseNextEvictions(1000);
  EXPECT_FALSE(budget_.MakeRoom(128 * kMb, requester.get(), kT0));
  EXPECT_EQ(a->idle(), 1);
}

TEST_F(MemoryBudgetTest, FreeAndPokeWakeOnlyTheFunctionsWithWaitingCalls) {
  std::shared_ptr<FakeFunction> waiting = Join(128);
  std::shared_ptr<FakeFunction> other = Join(128);
  ASSERT_TRUE(budget_.TryCharge(128 * kMb));
  budget_.Free(128 * kMb);  // nobody waits
  EXPECT_EQ(waiting->wakeups(), 0);
  {
    MemoryBudget::Waiting wait(budget_, waiting.get());
    EXPECT_EQ(budget_.Gauges().memory_waiting_calls, 1);
    ASSERT_TRUE(budget_.TryCharge(128 * kMb));
    budget_.Free(128 * kMb);
    budget_.Poke();
    EXPECT_EQ(waiting->wakeups(), 2);
    EXPECT_EQ(other->wakeups(), 0);
  }
  EXPECT_EQ(budget_.Gauges().memory_waiting_calls, 0);
  budget_.Poke();
  EXPECT_EQ(waiting->wakeups(), 2);
}

TEST_F(MemoryBudgetTest, AFunctionGoneIsNoLongerAskedOrWoken) {
  std::shared_ptr<FakeFunction> a = Join(256);
  ASSERT_TRUE(a->AddIdle(kT0));
  std::weak_ptr<FakeFunction> weak = a;
  a.reset();  // destroyed without Remove: the budget holds it weakly
  ASSERT_TRUE(weak.expired());
  EXPECT_FALSE(budget_.MakeRoom(256 * kMb, nullptr, kT0));
  budget_.Poke();
}

}  // namespace
}  // namespace fnhost::internal
