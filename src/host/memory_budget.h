// MemoryBudget: the memory a host's functions share (HostOptions::memory_budget_mb). Every
// instance is charged its function's pool.keep_alive.instance_memory_mb, from before it is
// created (TryCharge) until after it is destroyed (Free). An instance that does not fit makes
// room (MakeRoom) by evicting idle instances of the other functions, lowest Greedy-Dual priority
// first (src/policy/greedy_dual.h, the simulator's order). When nothing is idle, the call waits
// in its function's queue (Waiting) and is woken when memory is freed, and at each maintenance
// pass (Poke), when other functions' instances may have gone idle: the warm path, which takes
// and returns idle instances, never touches the budget.
//
// The budget learns of idle instances only by asking each function (Member) for its oldest one,
// with the time it went idle and the function's calls so far; the priority is then that of
// GreedyDualPriority with the clock as it stood at that time (GreedyDualClock::At), to the
// maintenance interval (the time a pool notes is the host's coarse time). So a scan costs one
// lock of each function's pool, and is made only for an instance that does not fit.
//
// Lock order: a pool's mutex, then the budget's. TryCharge, Waiting and Gauges take only the
// budget's mutex and may be called under a pool's; MakeRoom, Free and Poke call into functions
// and must be called with no lock held. The budget never calls a function while it holds its
// own mutex, and holds functions only as weak references.
//
// Thread-safety: all methods are thread-safe.

#ifndef FNHOST_SRC_HOST_MEMORY_BUDGET_H_
#define FNHOST_SRC_HOST_MEMORY_BUDGET_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "fnhost/metrics.h"
#include "src/common/mutex.h"
#include "src/policy/greedy_dual.h"

namespace fnhost::internal {

class MemoryBudget {
 public:
  // A function, as the budget sees it. Implemented by Function.
  class Member {
   public:
    virtual ~Member() = default;
    // Its oldest idle instance (its lowest priority: the priority of a function's instances
    // differs only by when they went idle): when it went idle, and the function's calls so far.
    // False when none is idle. Takes the function's pool lock.
    virtual bool OldestIdle(absl::Time* idle_since, int64_t* calls) = 0;
    // What one of its instances is charged, in MB.
    virtual double instance_memory_mb() const = 0;
    // Evicts and destroys its oldest idle instance if that went idle at or before `idle_since`
    // (else a call took it meanwhile); whether it did. A module whose last instance this was is
    // unloaded, as the keep-alive policy would. Called with no lock held.
    virtual bool EvictOldestIdle(absl::Time idle_since, absl::Time now) = 0;
    // Wakes its calls that wait for memory. Takes the function's pool lock.
    virtual void WakeMemoryWaiters() = 0;
  };

  // Bytes of `mb` megabytes (1 MB = 2^20 bytes), as instances are charged.
  static int64_t Bytes(double mb);

  explicit MemoryBudget(double capacity_mb);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Functions join when registered and leave when destroyed.
  void Add(const std::shared_ptr<Member>& member);
  void Remove(const Member* member);

  // Charges `bytes` if they fit; false (and nothing charged) otherwise.
  bool TryCharge(int64_t bytes);
  // Credits `bytes` (instances destroyed, or never created), and wakes the calls waiting.
  void Free(int64_t bytes);
  // Evicts idle instances of the functions other than `requester` (null: of any function),
  // lowest priority first, until `bytes` are free; false when every instance left is busy (or
  // idle ones keep being taken). Charges nothing: the caller then tries TryCharge, which may
  // lose the room to another caller.
  bool MakeRoom(int64_t bytes, const Member* requester, absl::Time now);
  // Wakes the calls waiting for memory, to look again (the maintenance pass).
  void Poke();

  // While it lives, one call of `member` waits for memory: Free and Poke wake it.
  class Waiting {
   public:
    Waiting(MemoryBudget& budget, const Member* member);
    ~Waiting();
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;

   private:
    MemoryBudget& budget_;
    const Member* const member_;
  };

  HostGauges Gauges();
  int64_t capacity_bytes() const { return capacity_; }
  double capacity_mb() const { return capacity_mb_; }
  // Idle instances evicted so far, and the clock's value.
  int64_t evictions();
  double clock();

 private:
  struct Entry {
    std::weak_ptr<Member> member;
    uint64_t order = 0;  // when it joined: ties of priority go to the earliest
    int waiting = 0;     // calls waiting for memory
  };
  // A member whose oldest idle instance may be evicted.
  struct Candidate {
    std::shared_ptr<Member> member;
    uint64_t order = 0;
    bool idle = false;
    absl::Time idle_since;
    int64_t calls = 0;
    double memory_mb = 0;
  };

  // The members other than `requester`, alive, by join order.
  std::vector<Candidate> Members(const Member* requester);
  // Asks each member for its oldest idle instance (without the lock) and returns the one of
  // lowest priority, or none (`member` null).
  Candidate LowestPriority(std::vector<Candidate>& members, double* priority);
  // Wakes every member with a waiting call; called without the lock.
  void WakeWaiters();

  const double capacity_mb_;
  const int64_t capacity_;
  Mutex mu_;
  int64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_order_ ABSL_GUARDED_BY(mu_) = 0;
  GreedyDualClock clock_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const Member*, Entry> members_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_MEMORY_BUDGET_H_
