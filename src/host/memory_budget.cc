// MemoryBudget: see the header for the model and the lock order.

#include "src/host/memory_budget.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace fnhost::internal {
namespace {

// The clock's past values kept for GreedyDualClock::At, one per maintenance interval in which
// an instance was evicted: at the default interval, over an hour of steady eviction. An
// instance idle for longer reads as idle since the oldest one kept.
constexpr size_t kClockHistory = 4096;

// Evictions MakeRoom may miss in a row (a call took the candidate between the scan and the
// eviction) before it gives up and its caller waits to be woken.
constexpr int kMaxMisses = 4;

}  // namespace

int64_t MemoryBudget::Bytes(double mb) { return std::llround(mb * 1024 * 1024); }

MemoryBudget::MemoryBudget(double capacity_mb)
    : capacity_mb_(capacity_mb), capacity_(Bytes(capacity_mb)), clock_(kClockHistory) {}

void MemoryBudget::Add(const std::shared_ptr<Member>& member) {
  MutexLock lock(mu_);
  members_[member.get()] = Entry{member, next_order_++, 0};
}

void MemoryBudget::Remove(const Member* member) {
  MutexLock lock(mu_);
  members_.erase(member);
}

bool MemoryBudget::TryCharge(int64_t bytes) {
  MutexLock lock(mu_);
  if (used_ + bytes > capacity_) return false;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return true;
}

void MemoryBudget::Free(int64_t bytes) {
  {
    MutexLock lock(mu_);
    used_ -= bytes;
    if (waiting_ == 0) return;
  }
  WakeWaiters();
}

void MemoryBudget::Poke() { WakeWaiters(); }

void MemoryBudget::WakeWaiters() {
  std::vector<std::weak_ptr<Member>> waiting;
  {
    MutexLock lock(mu_);
    for (const auto& [key, entry] : members_) {
      if (entry.waiting > 0) waiting.push_back(entry.member);
    }
  }
  for (const std::weak_ptr<Member>& weak : waiting) {
    if (std::shared_ptr<Member> member = weak.lock()) member->WakeMemoryWaiters();
  }
}

bool MemoryBudget::MakeRoom(int64_t bytes, const Member* requester, absl::Time now) {
  for (int misses = 0; misses < kMaxMisses;) {
    {
      MutexLock lock(mu_);
      if (used_ + bytes <= capacity_) return true;
    }
    std::vector<Candidate> members = Members(requester);
    double priority = 0;
    const Candidate victim = LowestPriority(members, &priority);
    if (victim.member == nullptr) break;  // every instance is busy
    if (!victim.member->EvictOldestIdle(victim.idle_since, now)) {
      ++misses;
      continue;
    }
    MutexLock lock(mu_);
    clock_.Evicted(priority, now);
    ++evictions_;
  }
  MutexLock lock(mu_);
  return used_ + bytes <= capacity_;
}

std::vector<MemoryBudget::Candidate> MemoryBudget::Members(const Member* requester) {
  std::vector<Candidate> members;
  MutexLock lock(mu_);
  members.reserve(members_.size());
  for (const auto& [key, entry] : members_) {
    if (key == requester) continue;
    if (std::shared_ptr<Member> member = entry.member.lock()) {
      Candidate& candidate = members.emplace_back();
      candidate.member = std::move(member);
      candidate.order = entry.order;
    }
  }
  std::sort(members.begin(), members.end(),
            [](const Candidate& a, const Candidate& b) { return a.order < b.order; });
  return members;
}

MemoryBudget::Candidate MemoryBudget::LowestPriority(std::vector<Candidate>& members,
                                                     double* priority) {
  for (Candidate& candidate : members) {
    candidate.idle = candidate.member->OldestIdle(&candidate.idle_since, &candidate.calls);
    candidate.memory_mb = candidate.member->instance_memory_mb();
  }
  const Candidate* lowest = nullptr;
  MutexLock lock(mu_);
  for (const Candidate& candidate : members) {
    if (!candidate.idle) continue;
    const double candidate_priority =
        GreedyDualPriority(clock_.At(candidate.idle_since), static_cast<double>(candidate.calls),
                           kUniformColdStartCost, candidate.memory_mb);
    if (lowest == nullptr || candidate_priority < *priority) {
      lowest = &candidate;
      *priority = candidate_priority;
    }
  }
  return lowest != nullptr ? *lowest : Candidate{};
}

MemoryBudget::Waiting::Waiting(MemoryBudget& budget, const Member* member)
    : budget_(budget), member_(member) {
  MutexLock lock(budget_.mu_);
  ++budget_.waiting_;
  if (auto it = budget_.members_.find(member_); it != budget_.members_.end()) {
    ++it->second.waiting;
  }
}

MemoryBudget::Waiting::~Waiting() {
  MutexLock lock(budget_.mu_);
  --budget_.waiting_;
  if (auto it = budget_.members_.find(member_); it != budget_.members_.end()) {
    it->second.waiting = std::max(0, it->second.waiting - 1);
  }
}

HostGauges MemoryBudget::Gauges() {
  MutexLock lock(mu_);
  return HostGauges{capacity_, used_, peak_, waiting_};
}

int64_t MemoryBudget::evictions() {
  MutexLock lock(mu_);
  return evictions_;
}

double MemoryBudget::clock() {
  MutexLock lock(mu_);
  return clock_.value();
}

}  // namespace fnhost::internal
