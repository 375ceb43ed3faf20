// The Pool's side of the host's memory budget (memory_budget.h): charging an instance before it
// starts, making room for one that does not fit, and handing the budget its oldest idle
// instance. The hooks in the call path (pool.cc) are marked "memory budget".

#include "absl/strings/cord.h"
#include "src/common/function_error.h"
#include "src/host/pool.h"

namespace fnhost::internal {

bool Pool::ChargeMemory(bool* needs_room) {
  if (host_.budget == nullptr || host_.budget->TryCharge(instance_bytes_)) return true;
  *needs_room = true;
  return false;
}

bool Pool::MakeRoom(MutexLock& lock, MemoryWait& wait) {
  wait.needs_room = false;
  // Registered before the budget looks, and the wake-ups counted: memory freed while it looks,
  // or before this caller waits, is not missed.
  if (!wait.registration.has_value()) wait.registration.emplace(*host_.budget, member_);
  const uint64_t wakeups = memory_wakeups_;
  // The budget calls into other functions' pools: no lock may be held.
  lock.native().unlock();
  const bool room = host_.budget->MakeRoom(instance_bytes_, member_, host_.CoarseNow());
  lock.native().lock();
  wait.blocked = !room && memory_wakeups_ == wakeups;
  wait.wakeups = wakeups;
  return !wait.blocked;
}

void Pool::GrantForRoom(Waiter& waiter, Garbage* garbage) {
  waiter.making_room = true;
  AsyncWaiter* async = waiter.async;
  async->status = absl::OkStatus();
  async->start = Start{};
  async->start.needs_room = true;
  async->Retain();  // it stays queued: a Withdraw before OnGranted must not end it
  AddGranted(async, garbage);
}

void Pool::MakeRoomFor(AsyncWaiter* async, Garbage* garbage) {
  MutexLock lock(mu_);
  Waiter& waiter = async->waiter_;
  async->start = Start{};
  if (!waiter.queued) return;  // withdrawn meanwhile
  MakeRoom(lock, waiter.memory);
  if (!waiter.queued) return;  // withdrawn while the budget looked
  waiter.making_room = false;
  Wake(garbage);
}

absl::Status Pool::MemoryBudgetRejection(bool queue_full, absl::Duration timeout) const {
  const double instance_mb = spec_.pool.keep_alive.instance_memory_mb;
  const double budget_mb = host_.budget->capacity_mb();
  absl::Status status =
      queue_full ? absl::ResourceExhaustedError(FunctionMessage(
                       spec_.name, "a new instance (", instance_mb,
                       " MB) does not fit in the host's memory budget (", budget_mb,
                       " MB), every instance holding it is busy, and the queue is full "
                       "(max_queue ",
                       spec_.pool.max_queue, ")"))
                 : absl::DeadlineExceededError(FunctionMessage(
                       spec_.name, "no room for a new instance (", instance_mb,
                       " MB) came free in the host's memory budget (", budget_mb,
                       " MB) within the call's deadline (", absl::FormatDuration(timeout),
                       "): every instance holding it was busy"));
  status.SetPayload(kRejectionPayloadUrl, absl::Cord("memory_budget"));
  return status;
}

bool Pool::OldestIdle(absl::Time* idle_since, int64_t* calls) {
  MutexLock lock(mu_);
  if (!open_) return false;
  RevokeLane();  // the lane's calls and idle times, read here, are written without the lock
  const Idle oldest = OldestIdleInstance(nullptr, /*include_keep=*/true);
  if (oldest.instance == nullptr) return false;
  *idle_since = oldest.instance->idle_since;
  *calls = calls_;
  return true;
}

bool Pool::EvictForBudget(absl::Time idle_since, absl::Time now, Garbage* garbage) {
  MutexLock lock(mu_);
  if (!open_) return false;
  RevokeLane();  // a lent instance may be running a call
  const Idle oldest = OldestIdleInstance(nullptr, /*include_keep=*/true);
  if (oldest.instance == nullptr || oldest.instance->idle_since > idle_since) return false;
  RemoveIdleInstance(oldest.version, oldest.instance, garbage, /*evicted=*/true);
  garbage->instances.back().by_budget = true;
  // No prewarm brings the instance back (as in the simulator), and the module goes with its
  // last instance, as the keep-alive policy would unload it.
  keep_alive_.OnIdleInstanceEvicted(now);
  if (oldest.version == versions_.stable() && keep_alive_.policy().UnloadWhenEmpty()) {
    UnloadStableIfDrained(/*destroying_now=*/1, garbage);
  }
  return true;
}

void Pool::WakeMemoryWaiters(Garbage* garbage) {
  MutexLock lock(mu_);
  ++memory_wakeups_;
  cv_.notify_all();
  Wake(garbage);  // an asynchronous caller at the head makes room again (GrantForRoom)
}

}  // namespace fnhost::internal
