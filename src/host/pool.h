// Pool: the instances of one function and the callers waiting for them. It owns the function's
// versions (VersionLifecycle: stable, canary, retired) and their instance bookkeeping, the
// traffic split's router, one FIFO queue for the calls of both active versions, and the
// keep-alive controller, which it feeds as instances go busy and idle (the one way the
// simulator feeds it too). Admission: max_instances caps the instances of both active versions
// together (a version at the cap evicts an idle instance of the other to make room), max_queue
// bounds the queue, and a call waits at most its deadline; one loader at a time per version.
// A queued caller keeps its routing decision while it waits, unless its canary is cleared or
// promoted: it then goes to what is then the stable version.
//
// The pool never runs module code and never reports metrics. What needs either is handed back
// to the caller (Function), to do without the lock: an instance to start (Start, then
// FinishStart), instances and versions to destroy (Garbage, then InstancesDestroyed), a
// version whose snapshot to write (pinned; Unpin after).
//
// Under the host's memory budget (memory_budget.h; pool_budget.cc) each instance the pool
// starts is charged first, under the pool's lock (TryCharge takes only the budget's). One that
// does not fit makes the caller look for room with the lock released (MakeRoom), and wait in
// the queue if there is none; only instance creation and destruction touch the budget.
//
// Thread-safety: all methods are thread-safe; one mutex guards everything, including the
// bookkeeping inside each Version, but the fast lane (below), whose warm calls take no lock.
// Otherwise the warm path (Acquire and Release finding a free slot) takes the mutex twice,
// spinning briefly before it blocks. Neither allocates.

#ifndef FNHOST_SRC_HOST_POOL_H_
#define FNHOST_SRC_HOST_POOL_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "fnhost/host.h"
#include "src/common/mutex.h"
#include "src/host/host_context.h"
#include "src/host/memory_budget.h"
#include "src/host/router.h"
#include "src/host/version.h"
#include "src/host/version_lifecycle.h"
#include "src/policy/keep_alive_controller.h"

namespace fnhost::internal {

class Pool {
 public:
  // A call's hold on one slot of an instance.
  struct Lease {
    Version* version = nullptr;
    Instance* instance = nullptr;
    bool cold = false;  // the call waited for the instance to be created
    bool fast = false;  // taken from the fast lane: give it back with TryReleaseFast first
    int lane_slot = -1;  // when fast: the lane's slot it took
  };
  // An instance the caller must create without the lock, loading the module first when
  // `load`; counted as starting until FinishStart.
  struct Start {
    Version* version = nullptr;
    bool load = false;
    // The instance does not fit in the memory budget; make room, then ask again (NextPrewarm;
    // or an AsyncWaiter's grant: then MakeRoomFor).
    bool needs_room = false;
  };
  class AsyncWaiter;
  // Instances and versions taken out of the pool under the lock, destroyed after it; and the
  // asynchronous callers handed a slot meanwhile, to dispatch after it (AsyncWaiter::OnGranted).
  struct Garbage {
    struct Dead {
      Version* version;
      BackendInstance* handle;
      bool evicted;  // by the pool (keep-alive, room for the other version): reported
      bool by_budget = false;  // evicted to make room in the memory budget
      // Its memory charge passed to the instance started in its place: the budget is not
      // credited when it is destroyed.
      bool charge_passed = false;
    };
    std::vector<Dead> instances;
    std::vector<std::unique_ptr<Version>> versions;
    AsyncWaiter* granted = nullptr;  // FIFO, linked through AsyncWaiter::next_granted_
    AsyncWaiter* granted_tail = nullptr;
    bool empty() const { return instances.empty() && versions.empty() && granted == nullptr; }
    // Takes the granted callers out, first granted first.
    AsyncWaiter* TakeGranted() {
      granted_tail = nullptr;
      return std::exchange(granted, nullptr);
    }
  };

 private:
  // A caller's standing with the memory budget.
  struct MemoryWait {
    bool needs_room = false;  // its new instance did not fit: make room (MakeRoom)
    bool blocked = false;     // MakeRoom found none: every instance holding memory is busy
    uint64_t wakeups = 0;     // memory_wakeups_ when MakeRoom last looked
    std::optional<MemoryBudget::Waiting> registration;  // Free and Poke wake it from then on
  };
  // Where a caller that did not get a slot at once stands: a thread blocked in Acquire, or an
  // AsyncWaiter.
  struct Waiter {
    bool queued = false;
    // An AsyncWaiter whose instance did not fit in the memory budget, out making room
    // (MakeRoomFor) while it keeps its place at the head of the queue.
    bool making_room = false;
    MemoryWait memory;
    bool to_canary = false;  // the router's decision, kept while it waits
    absl::Time deadline = absl::InfiniteFuture();
    bool deadline_known = false;  // the deadline counts from when the caller starts to wait
    uint64_t awaited_load = UINT64_MAX;  // the load attempt this caller waited for
    AsyncWaiter* async = nullptr;        // null: a blocked thread, woken through cv_
  };

 public:
  // A caller that must not block (Host::InvokeAsync). When no slot is free at once it waits
  // in the queue as this record, and whoever frees what it waits for takes its turn for it:
  // `status`, `lease` and `start` are then set as Acquire sets them, and the waiter goes into
  // that caller's Garbage::granted, whose holder calls OnGranted once the lock is released.
  class AsyncWaiter {
   public:
    // The waiter's turn came: its fields say what it got. Runs without the pool's lock.
    virtual void OnGranted() = 0;
    // Under the pool's lock, when the waiter is granted with `start.needs_room`: it stays
    // queued, so it may be withdrawn before its OnGranted runs, and must live until then. The
    // reference taken here is that OnGranted's to drop.
    virtual void Retain() = 0;
    AsyncWaiter* next_granted() const { return next_granted_; }

    absl::Status status;
    Lease lease;
    Start start;

   protected:
    ~AsyncWaiter() = default;

   private:
    friend class Pool;
    Waiter waiter_;
    AsyncWaiter* next_granted_ = nullptr;
  };

  // `member` is the function, as the host's memory budget (if any) knows it.
  Pool(const HostContext& host, const FunctionSpec& spec, const MemoryBudget::Member* member);

  // ---- Calls.
  // Takes a slot for a call: of the version the router picks, at once when one is free and
  // nobody queues; otherwise in FIFO order, as slots free up, or by starting an instance
  // (`*start` set: the caller creates it and calls FinishStart). Errors: NOT_FOUND after
  // Unregister, RESOURCE_EXHAUSTED when the queue is full, DEADLINE_EXCEEDED when no slot came
  // within the call's deadline (both with a rejection payload), or the error of the load the
  // caller waited for. `garbage` receives instances evicted to make room.
  absl::Status Acquire(const CallOptions& options, Lease* lease, Start* start,
                       Garbage* garbage);
  // The end of a Start: adds the instance the caller created (`status` OK) or notes the
  // failure; with `lease`, the new instance serves that caller. `module_version` receives the
  // version's string (copied: the version may go once the lock is released); the returned
  // version, if any, is pinned and its snapshot should be written (then Unpin).
  Version* FinishStart(const Start& start, const absl::Status& status, BackendInstance* handle,
                       Lease* lease, Garbage* garbage, std::string* module_version);
  void Release(const Lease& lease, Garbage* garbage);

  // ---- The fast lane: warm calls from many threads without the lock.
  // While nothing needs the lock's view (no queue, no traffic split, the stable version warm,
  // in process, a fixed keep-alive), the stable version's free slots (one per call an
  // instance may run at once) are lent to a lane: a caller takes one with one
  // compare-and-swap on the slot's own cache line, preferring the slot it took last (so two
  // threads settle on two slots), and gives it back the same way. The keep-alive controller
  // does not see these calls one by one; each slot keeps when it was last given back.
  // Anything that needs the true picture (admission that must queue, a reload, keep-alive,
  // the status) revokes the lane under the lock first: free slots go back to the free list,
  // their instances' idle_since brought up to date, and taken ones are counted busy and come
  // back through Release. The lane reopens when the conditions hold again.
  // A free lane instance for this call, or false (then Acquire).
  bool TryAcquireFast(Lease* lease);
  // Gives back a lease from TryAcquireFast without the lock; false when the lane was revoked
  // meanwhile: then Release it.
  bool TryReleaseFast(const Lease& lease);

  // ---- Calls that do not block.
  // The fast path of a caller that runs the call on its own thread: a free slot of the stable
  // version, whose backend runs calls in the calling thread, with nobody queued and no traffic
  // split; else false, and nothing changed.
  bool TryAcquireInline(Lease* lease);
  // Acquire for `waiter`: true when it has its answer at once (its fields set), false when it
  // joined the queue: then its grant comes later (see AsyncWaiter), unless Withdraw comes first.
  bool AcquireAsync(AsyncWaiter* waiter, Garbage* garbage);
  // For a waiter granted with `start.needs_room` (its instance did not fit in the memory
  // budget): makes room as a blocked Acquire would, on a thread that may evict other
  // functions' instances (not the caller's), then lets it take its turn again. It keeps its
  // place at the head of the queue meanwhile, and its grant comes later, as from the queue.
  void MakeRoomFor(AsyncWaiter* waiter, Garbage* garbage);
  // Takes a queued waiter out of the queue (its deadline passed, or it was cancelled); false
  // when it is not queued, because it was granted already. `*memory_blocked`, if given: it
  // waited for room in the memory budget that did not come.
  bool Withdraw(AsyncWaiter* waiter, Garbage* garbage, bool* memory_blocked = nullptr);
  // The error of a call whose deadline passed while it waited `timeout` in the queue (for room
  // in the memory budget, when `memory_blocked`).
  absl::Status QueueDeadlineError(absl::Duration timeout, bool memory_blocked = false) const;

  // ---- Prewarm.
  // The next instance a prewarm to `target` instances of the stable version must start, or
  // none (`start->version` null) once enough exist or max_instances is reached. Waits while
  // another caller loads the module. NOT_FOUND after Unregister.
  absl::Status NextPrewarm(int target, Start* start);
  // Instances of the stable version, starting ones included.
  int StableInstances();

  // ---- A reload's hold on the stable version.
  // Pins the stable version if it is loaded (null otherwise), so that it stays loaded, and
  // takes a free slot of one of its instances into `lease` if there is one (else the lease
  // stays empty). ReleaseHold gives both back.
  Version* HoldStable(Lease* lease);
  void ReleaseHold(Version* version, const Lease& lease, Garbage* garbage);

  // ---- Versions.
  // Makes a staged version (loaded, with `instances`) the stable version or the canary, and
  // for a canary sets its share. NOT_FOUND after Unregister (then everything staged goes to
  // `garbage`). Returns the version if its snapshot should be written (pinned).
  absl::StatusOr<Version*> Install(std::unique_ptr<Version> staged,
                                   const std::vector<BackendInstance*>& instances,
                                   bool as_canary, uint32_t share, Garbage* garbage);
  // FAILED_PRECONDITION without a canary.
  absl::Status SetCanaryShare(uint32_t share);
  // The canary's module version; FAILED_PRECONDITION without a canary.
  absl::StatusOr<std::string> PromoteCanary(Garbage* garbage);
  void ClearCanary(Garbage* garbage);
  // Refuses new calls from now on; queued and running calls finish.
  void Close(Garbage* garbage);
  // Close, then waits until no call runs, waits or starts an instance, and retires everything.
  void CloseAndDrain(Garbage* garbage);

  // ---- Background work, and what is left after the lock.
  // Keeps `version` loaded (a snapshot write) until Unpin.
  void Unpin(Version* version, Garbage* garbage);
  // Counts out the instances of `destroyed`, now destroyed, and collects the retired versions
  // they drained into `more`.
  void InstancesDestroyed(const Garbage& destroyed, Garbage* more);

  // ---- Keep-alive and reporting.
  // Applies the keep-alive policy at `now`: evicts idle instances, scales the stable version to
  // zero, and returns how many instances to prewarm.
  int ApplyKeepAlive(absl::Time now, absl::Time wall_now, Garbage* garbage);
  FunctionStatus Status();
  PoolGauges Gauges();

  // ---- The memory budget (memory_budget.h), in pool_budget.cc.
  // What one instance is charged.
  int64_t instance_bytes() const { return instance_bytes_; }
  // The oldest idle instance of the active versions: when it went idle, and the calls so far.
  // False when none is idle, or after Unregister.
  bool OldestIdle(absl::Time* idle_since, int64_t* calls);
  // Moves the oldest idle instance into `garbage` if it went idle at or before `idle_since`,
  // and scales to zero if it was the stable version's last; false when there is none.
  bool EvictForBudget(absl::Time idle_since, absl::Time now, Garbage* garbage);
  // Wakes the queued callers that wait for memory; asynchronous ones go to `garbage`.
  void WakeMemoryWaiters(Garbage* garbage);

 private:
  // A version's module fields are written by its loader without the lock; under the lock they
  // may be read only once its load is over (load_state, set under the lock, says so).
  static bool LoadedNow(const Version& version);

  absl::Status AcquireSlow(MutexLock& lock, const CallOptions& options, bool to_canary,
                           Lease* lease, Start* start, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A queued caller's turn: a free slot, a failed load's error, or an instance to start; or
  // nothing (std::nullopt), and the caller waits.
  std::optional<absl::Status> TakeTurn(Version* version, Waiter& waiter, Lease* lease,
                                       Start* start, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Charges a new instance to the memory budget; false (and `*needs_room`) if it does not fit.
  bool ChargeMemory(bool* needs_room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases the lock while the budget evicts other functions' idle instances; whether the
  // caller should try again (room was made, or memory freed meanwhile), else `wait.blocked`.
  bool MakeRoom(MutexLock& lock, MemoryWait& wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A call refused for want of memory: its queue is full, or its deadline passed.
  absl::Status MemoryBudgetRejection(bool queue_full, absl::Duration timeout) const;
  // Joins the queue; RESOURCE_EXHAUSTED when it is full.
  absl::Status Enqueue(Waiter& waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Leave(Waiter& waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The version a waiter's call goes to now.
  Version* VersionFor(const Waiter& waiter) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands slots to the asynchronous callers at the head of the queue while it can (into
  // `garbage->granted`), up to the first blocked thread, which it wakes.
  void Wake(Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddGranted(AsyncWaiter* async, Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Memory budget: hands an asynchronous waiter whose instance did not fit out to make room
  // (`start.needs_room`; then MakeRoomFor), keeping its place in the queue.
  void GrantForRoom(Waiter& waiter, Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a new instance of `version` as starting (and its module as loading when `load`).
  void BeginStart(Version* version, bool load, Start* start) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeSlot(Version* version, Lease* lease, bool cold) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a new instance to `version`, with all its slots free.
  void AddInstance(Version* version, BackendInstance* handle)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves an idle instance out of `version` into `garbage`; `evicted` reports it as an
  // eviction (not for the drain of a retired version).
  void RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage,
                          bool evicted = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the oldest idle instance of the active versions other than `keep` (or, with
  // `include_keep`, of `keep` too) into `garbage`; false when there is none. With
  // `pass_charge`, its memory charge goes to the instance started in its place.
  bool EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage,
                        bool pass_charge = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Instances of the active versions (counted against max_instances), and those starting.
  int PoolInstances() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int PoolStarting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pins `version` if a snapshot of it should be written in the background.
  Version* PinForSnapshot(Version* version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the idle instances of retired versions, and moves drained ones, into `garbage`.
  void CollectRetired(Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After Close, once nothing runs, waits or starts: retires every version.
  void RetireIfDrained(Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Scale to zero, when the stable version is loaded and holds nothing but `destroying_now`
  // instances on their way out, and nobody queues: a fresh, unloaded version takes its place.
  void UnloadStableIfDrained(int destroying_now, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The idle instances of the active versions, oldest first, and how many are busy.
  struct Idle {
    Version* version;
    Instance* instance;
  };
  std::vector<Idle> IdleInstances(int* busy) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The oldest idle instance of the active versions other than `keep` (or, with
  // `include_keep`, of `keep` too); instance null when there is none.
  Idle OldestIdleInstance(const Version* keep, bool include_keep) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The fast lane (pool_lane.cc).
  enum LaneState : uint32_t { kNotLent, kFree, kTaken, kReleasing, kRevoked };
  static constexpr int kLaneSlots = 16;
  bool LaneAllowed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One slot of the lane, on its own cache line. `state` moves kNotLent -> kFree (lent, under
  // the lock) -> kTaken (a caller's compare-and-swap) -> kReleasing -> kFree, or kFree ->
  // kNotLent and kTaken -> kRevoked (RevokeLane) -> kNotLent (Release). The other fields are
  // written by whoever moved the state last and read after the next move: `instance` while
  // kNotLent, the rest while kReleasing.
  struct alignas(64) LaneSlot {
    std::atomic<uint32_t> state{kNotLent};
    Instance* instance = nullptr;
    absl::Time idle_since;  // when its last call of the lane ended
    uint32_t calls = 0;     // calls of the lane it ended, not yet counted into calls_
  };
  // Lends the stable version's free slots, when the lane may be open.
  void MaybeOpenLane() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RevokeLane() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HostContext& host_;
  const FunctionSpec& spec_;
  const MemoryBudget::Member* const member_;
  const int64_t instance_bytes_;  // what the memory budget charges an instance

  std::atomic<bool> lane_open_{false};
  std::atomic<int> lane_size_{0};  // slots [0, lane_size_) may be lent
  // Made when the lane first opens (most functions are never warm in process), then kept as
  // long as the pool: a caller may still try a slot after the lane was revoked.
  std::atomic<LaneSlot*> lane_{nullptr};
  std::unique_ptr<LaneSlot[]> lane_slots_ ABSL_GUARDED_BY(mu_);

  Mutex mu_;
  std::condition_variable cv_;  // signalled when slots free up, loads finish, or queue moves
  VersionLifecycle versions_ ABSL_GUARDED_BY(mu_);
  CanaryRouter router_ ABSL_GUARDED_BY(mu_);
  // Waiting callers, FIFO. A vector, not a deque: an empty deque allocates 600 bytes, and most
  // functions never queue; max_queue bounds the cost of erasing at the front.
  std::vector<Waiter*> queue_ ABSL_GUARDED_BY(mu_);
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;  // calls holding an instance, all versions
  bool open_ ABSL_GUARDED_BY(mu_) = true;  // false once unregistered
  KeepAliveController keep_alive_ ABSL_GUARDED_BY(mu_);
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;  // slots taken: the memory budget's frequency
  uint64_t memory_wakeups_ ABSL_GUARDED_BY(mu_) = 0;  // WakeMemoryWaiters calls so far
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_POOL_H_
