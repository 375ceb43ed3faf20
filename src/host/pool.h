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
// Thread-safety: all methods are thread-safe; one mutex guards everything, including the
// bookkeeping inside each Version. The warm path (Acquire and Release finding a free slot)
// takes it twice, spinning briefly before it blocks, and allocates nothing.

#ifndef FNHOST_SRC_HOST_POOL_H_
#define FNHOST_SRC_HOST_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "fnhost/host.h"
#include "src/common/mutex.h"
#include "src/host/host_context.h"
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
  };
  // An instance the caller must create without the lock, loading the module first when
  // `load`; counted as starting until FinishStart.
  struct Start {
    Version* version = nullptr;
    bool load = false;
  };
  // Instances and versions taken out of the pool under the lock, destroyed after it.
  struct Garbage {
    struct Dead {
      Version* version;
      BackendInstance* handle;
      bool evicted;  // by the pool (keep-alive, room for the other version): reported
    };
    std::vector<Dead> instances;
    std::vector<std::unique_ptr<Version>> versions;
    bool empty() const { return instances.empty() && versions.empty(); }
  };

  Pool(const HostContext& host, const FunctionSpec& spec);

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

 private:
  // Where a queued caller stands (see pool.cc).
  struct Waiter;

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
  // Joins the queue; RESOURCE_EXHAUSTED when it is full.
  absl::Status Enqueue(Waiter& waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Leave(Waiter& waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // `include_keep`, of `keep` too) into `garbage`; false when there is none.
  bool EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Instances of the active versions (counted against max_instances), and those starting.
  int PoolInstances() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int PoolStarting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pins `version` if a snapshot of it should be written in the background.
  Version* PinForSnapshot(Version* version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the idle instances of retired versions, and moves drained ones, into `garbage`.
  void CollectRetired(Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After Close, once nothing runs, waits or starts: retires every version.
  void RetireIfDrained(Garbage* garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The idle instances of the active versions, oldest first, and how many are busy.
  struct Idle {
    Version* version;
    Instance* instance;
  };
  std::vector<Idle> IdleInstances(int* busy) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HostContext& host_;
  const FunctionSpec& spec_;

  Mutex mu_;
  std::condition_variable cv_;  // signalled when slots free up, loads finish, or queue moves
  VersionLifecycle versions_ ABSL_GUARDED_BY(mu_);
  CanaryRouter router_ ABSL_GUARDED_BY(mu_);
  // Tickets of waiting callers, FIFO. A vector, not a deque: an empty deque allocates 600
  // bytes, and most functions never queue; max_queue bounds the cost of erasing at the front.
  std::vector<uint64_t> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;  // calls holding an instance, all versions
  bool open_ ABSL_GUARDED_BY(mu_) = true;  // false once unregistered
  KeepAliveController keep_alive_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_POOL_H_
