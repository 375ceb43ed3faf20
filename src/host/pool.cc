// The call path of the Pool: admission, the queue, starting instances, slots, eviction. The
// versions' roles, keep-alive and reporting are in pool_versions.cc.

#include "src/host/pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/cord.h"
#include "src/common/function_error.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost::internal {
namespace {

absl::Status Rejected(absl::Status status, absl::string_view reason) {
  status.SetPayload(kRejectionPayloadUrl, absl::Cord(reason));
  return status;
}

}  // namespace

Pool::Pool(const HostContext& host, const FunctionSpec& spec,
           const MemoryBudget::Member* member)
    : host_(host),
      spec_(spec),
      member_(member),
      instance_bytes_(MemoryBudget::Bytes(spec.pool.keep_alive.instance_memory_mb)),
      versions_(host, spec),
      keep_alive_(MakeKeepAlivePolicy(spec.pool.keep_alive)) {}

absl::Status Pool::Acquire(const CallOptions& options, Lease* lease, Start* start,
                           Garbage* garbage) {
  MutexLock lock(mu_, MutexLock::Spin::kFirst);
  Version* version = versions_.stable();
  bool to_canary = false;
  if (versions_.canary() != nullptr && open_) [[unlikely]] {
    to_canary = router_.Next();
    if (to_canary) version = versions_.canary();
  }
  if (open_ && queue_.empty() && !version->pool_.free_slots.empty()) [[likely]] {
    TakeSlot(version, lease, /*cold=*/false);
    MaybeOpenLane();
    return absl::OkStatus();
  }
  RevokeLane();  // the slow path needs the true picture
  absl::Status status = AcquireSlow(lock, options, to_canary, lease, start, garbage);
  // The callers behind this one may proceed now.
  if (!queue_.empty()) Wake(garbage);
  // This caller may have been the last one queued after an Unregister.
  if (!status.ok() && !open_) RetireIfDrained(garbage);
  return status;
}

bool Pool::TryAcquireInline(Lease* lease) {
  MutexLock lock(mu_, MutexLock::Spin::kFirst);
  Version* version = versions_.stable();
  if (!open_ || !queue_.empty() || versions_.canary() != nullptr ||
      version->pool_.free_slots.empty() || version->invokes_async()) {
    return false;
  }
  TakeSlot(version, lease, /*cold=*/false);
  return true;
}

bool Pool::AcquireAsync(AsyncWaiter* async, Garbage* garbage) {
  MutexLock lock(mu_, MutexLock::Spin::kFirst);
  Waiter& waiter = async->waiter_;
  waiter.async = async;
  if (!open_) {
    async->status =
        absl::NotFoundError(FunctionSentence(spec_.name, " is not registered (unregistered)"));
    RetireIfDrained(garbage);
    return true;
  }
  RevokeLane();
  waiter.to_canary = versions_.canary() != nullptr && router_.Next();
  Version* version = VersionFor(waiter);
  if (queue_.empty()) {
    if (std::optional<absl::Status> taken =
            TakeTurn(version, waiter, &async->lease, &async->start, garbage)) {
      async->status = *taken;
      return true;
    }
  }
  if (version->pool_.load_state == Version::LoadState::kLoading) {
    waiter.awaited_load = version->pool_.load_attempts;
  }
  if (absl::Status status = Enqueue(waiter); !status.ok()) {
    async->status = status;
    return true;
  }
  if (waiter.memory.needs_room) GrantForRoom(waiter, garbage);  // memory budget
  return false;
}

bool Pool::Withdraw(AsyncWaiter* async, Garbage* garbage, bool* memory_blocked) {
  MutexLock lock(mu_);
  if (!async->waiter_.queued) return false;
  if (memory_blocked != nullptr) {
    *memory_blocked = async->waiter_.memory.blocked || async->waiter_.making_room;
  }
  Leave(async->waiter_);
  Wake(garbage);
  if (!open_) RetireIfDrained(garbage);
  return true;
}

absl::Status Pool::QueueDeadlineError(absl::Duration timeout, bool memory_blocked) const {
  if (memory_blocked) return MemoryBudgetRejection(/*queue_full=*/false, timeout);
  return Rejected(absl::DeadlineExceededError(FunctionMessage(
                      spec_.name, "no instance became free within the call's deadline (",
                      absl::FormatDuration(timeout), ")")),
                  "deadline");
}

Version* Pool::VersionFor(const Waiter& waiter) const {
  return waiter.to_canary && versions_.canary() != nullptr ? versions_.canary()
                                                           : versions_.stable();
}

void Pool::Wake(Garbage* garbage) {
  cv_.notify_all();
  while (!queue_.empty() && queue_.front()->async != nullptr) {
    Waiter& head = *queue_.front();
    if (head.making_room) return;  // MakeRoomFor takes its turn when it is done
    AsyncWaiter* async = head.async;
    Version* version = VersionFor(head);
    std::optional<absl::Status> taken =
        TakeTurn(version, head, &async->lease, &async->start, garbage);
    if (!taken) {
      if (version->pool_.load_state == Version::LoadState::kLoading) {
        head.awaited_load = version->pool_.load_attempts;
      }
      // Memory budget: a blocked waiter waits for WakeMemoryWaiters.
      if (head.memory.needs_room &&
          (!head.memory.blocked || head.memory.wakeups != memory_wakeups_)) {
        GrantForRoom(head, garbage);
      }
      return;
    }
    async->status = *std::move(taken);
    AddGranted(async, garbage);
  }
}

void Pool::AddGranted(AsyncWaiter* async, Garbage* garbage) {
  async->next_granted_ = nullptr;
  if (garbage->granted_tail != nullptr) {
    garbage->granted_tail->next_granted_ = async;
  } else {
    garbage->granted = async;
  }
  garbage->granted_tail = async;
}

absl::Status Pool::AcquireSlow(MutexLock& lock, const CallOptions& options, bool to_canary,
                               Lease* lease, Start* start, Garbage* garbage) {
  const absl::Duration timeout = options.timeout == absl::InfiniteDuration()
                                     ? spec_.pool.default_timeout
                                     : options.timeout;
  Waiter waiter;
  waiter.to_canary = to_canary;
  for (;;) {
    Version* version = VersionFor(waiter);
    if (!open_ && !waiter.queued) {
      return absl::NotFoundError(
          FunctionSentence(spec_.name, " is not registered (unregistered)"));
    }
    const bool my_turn = queue_.empty() || (waiter.queued && queue_.front() == &waiter);
    if (my_turn) {
      if (std::optional<absl::Status> taken = TakeTurn(version, waiter, lease, start, garbage)) {
        return *taken;
      }
      if (waiter.memory.needs_room && MakeRoom(lock, waiter.memory)) continue;  // memory budget
    }
    if (version->pool_.load_state == Version::LoadState::kLoading) {
      waiter.awaited_load = version->pool_.load_attempts;
    }
    if (!waiter.queued) {
      if (absl::Status status = Enqueue(waiter); !status.ok()) return status;
    }
    if (!waiter.deadline_known) {
      waiter.deadline = host_.clock->Now() + timeout;
      waiter.deadline_known = true;
    }
    if (host_.clock->Now() >= waiter.deadline) {
      Leave(waiter);
      return QueueDeadlineError(timeout, waiter.memory.blocked);
    }
    host_.clock->WaitUntil(cv_, lock.native(), waiter.deadline);
  }
}

std::optional<absl::Status> Pool::TakeTurn(Version* version, Waiter& waiter, Lease* lease,
                                           Start* start, Garbage* garbage) {
  Version::PoolRecord& record = version->pool_;
  if (!record.free_slots.empty()) {
    Leave(waiter);
    TakeSlot(version, lease, /*cold=*/false);
    return absl::OkStatus();
  }
  using LoadState = Version::LoadState;
  if (record.load_state == LoadState::kUnloaded && waiter.awaited_load != UINT64_MAX &&
      record.load_attempts > waiter.awaited_load && !record.last_load_error.ok()) {
    // The load this caller waited for failed: report its error rather than retry it once per
    // waiter.
    Leave(waiter);
    return record.last_load_error;
  }
  const bool load = record.load_state == LoadState::kUnloaded;
  // Room: below max_instances and in the memory budget, or in place of an idle instance of the
  // other version (its memory charge passes to the new one).
  if ((load || record.load_state == LoadState::kReady) &&
      ((PoolInstances() < spec_.pool.max_instances &&
        ChargeMemory(&waiter.memory.needs_room)) ||
       EvictIdleForRoom(version, /*include_keep=*/false, garbage, /*pass_charge=*/true))) {
    Leave(waiter);
    BeginStart(version, load, start);
    return absl::OkStatus();
  }
  return std::nullopt;
}

absl::Status Pool::Enqueue(Waiter& waiter) {
  if (static_cast<int>(queue_.size()) >= spec_.pool.max_queue) {
    if (waiter.memory.blocked) return MemoryBudgetRejection(/*queue_full=*/true, {});
    return Rejected(absl::ResourceExhaustedError(FunctionMessage(
                        spec_.name, "all ", spec_.pool.max_instances,
                        " instances are busy and the queue is full (max_queue ",
                        spec_.pool.max_queue, ")")),
                    "queue_full");
  }
  waiter.queued = true;
  queue_.push_back(&waiter);
  return absl::OkStatus();
}

void Pool::Leave(Waiter& waiter) {
  // Its caller waits no more, though an AsyncWaiter's record outlives its completion.
  waiter.memory.registration.reset();
  if (!waiter.queued) return;
  queue_.erase(std::find(queue_.begin(), queue_.end(), &waiter));
  waiter.queued = false;
  waiter.making_room = false;
  cv_.notify_all();  // the next caller in line may now proceed (the caller pumps the others)
}

void Pool::BeginStart(Version* version, bool load, Start* start) {
  ++version->pool_.starting;
  if (load) version->pool_.load_state = Version::LoadState::kLoading;
  *start = Start{version, load};
}

void Pool::TakeSlot(Version* version, Lease* lease, bool cold) {
  Version::PoolRecord& record = version->pool_;
  Instance* instance = record.free_slots.back();
  record.free_slots.pop_back();
  // The keep-alive controller counts busy instances, as the simulator does.
  if (instance->inflight++ == 0) keep_alive_.OnInstanceBusy(host_.CoarseNow());
  ++record.inflight;
  ++inflight_;
  ++calls_;
  *lease = Lease{version, instance, cold};
}

Version* Pool::FinishStart(const Start& start, const absl::Status& status,
                           BackendInstance* handle, Lease* lease, Garbage* garbage,
                           std::string* module_version) {
  MutexLock lock(mu_);
  Version* version = start.version;
  Version::PoolRecord& record = version->pool_;
  --record.starting;
  Version* snapshot = nullptr;
  if (start.load) {
    ++record.load_attempts;
    record.load_state = status.ok() || version->loaded() ? Version::LoadState::kReady
                                                         : Version::LoadState::kUnloaded;
    record.last_load_error = version->loaded() ? absl::OkStatus() : status;
    if (version->loaded()) snapshot = PinForSnapshot(version);
  }
  if (status.ok()) {
    AddInstance(version, handle);
    if (lease != nullptr) TakeSlot(version, lease, /*cold=*/true);
  }
  Wake(garbage);
  // Retired meanwhile (reload, promote, clear): an instance nobody waits for goes at once.
  if (record.retired) CollectRetired(garbage);
  RetireIfDrained(garbage);
  MaybeOpenLane();
  *module_version = version->module_version();
  return snapshot;
}

void Pool::AddInstance(Version* version, BackendInstance* handle) {
  auto owned = std::make_unique<Instance>();
  owned->handle = handle;
  owned->version = version;
  owned->idle_since = host_.CoarseNow();
  for (int i = 0; i < version->concurrency(); ++i) version->pool_.free_slots.push_back(owned.get());
  version->pool_.instances.push_back(std::move(owned));
}

void Pool::Release(const Lease& lease, Garbage* garbage) {
  MutexLock lock(mu_, MutexLock::Spin::kFirst);
  Version* version = lease.version;
  Instance* instance = lease.instance;
  Version::PoolRecord& record = version->pool_;
  // A call of the fast lane that was revoked under it: counted busy by RevokeLane.
  if (lease.fast) {
    lane_slots_[lease.lane_slot].state.store(kNotLent, std::memory_order_relaxed);
    ++calls_;
  }
  --instance->inflight;
  --record.inflight;
  const absl::Time now = host_.CoarseNow();
  if (instance->inflight == 0) {
    instance->idle_since = now;
    keep_alive_.OnInstanceIdle(now);
  }
  --inflight_;
  if (record.retired) {
    if (instance->inflight == 0) RemoveIdleInstance(version, instance, garbage);
    CollectRetired(garbage);
  } else if (version->IsLost(instance->handle)) {
    // A worker process that died during the call (concurrency 1): the next call spawns anew.
    RemoveIdleInstance(version, instance, garbage);
  } else {
    record.free_slots.push_back(instance);
  }
  if (inflight_ == 0) RetireIfDrained(garbage);
  if (!queue_.empty()) {
    Wake(garbage);
  } else if (inflight_ == 0) {
    cv_.notify_all();
  }
  MaybeOpenLane();
}

void Pool::RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage,
                              bool evicted) {
  Version::PoolRecord& record = version->pool_;
  std::erase(record.free_slots, instance);
  auto it = std::find_if(record.instances.begin(), record.instances.end(),
                         [instance](const auto& owned) { return owned.get() == instance; });
  garbage->instances.push_back({version, instance->handle, evicted});
  ++record.destroying;
  record.instances.erase(it);
}

Pool::Idle Pool::OldestIdleInstance(const Version* keep, bool include_keep) const {
  Idle oldest{nullptr, nullptr};
  for (Version* version : versions_.active()) {
    if (version == nullptr || (version == keep && !include_keep)) continue;
    for (const std::unique_ptr<Instance>& instance : version->pool_.instances) {
      if (instance->inflight == 0 &&
          (oldest.instance == nullptr || instance->idle_since < oldest.instance->idle_since)) {
        oldest = Idle{version, instance.get()};
      }
    }
  }
  return oldest;
}

bool Pool::EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage,
                            bool pass_charge) {
  const Idle oldest = OldestIdleInstance(keep, include_keep);
  if (oldest.instance == nullptr) return false;
  RemoveIdleInstance(oldest.version, oldest.instance, garbage, /*evicted=*/true);
  garbage->instances.back().charge_passed = pass_charge;
  return true;
}

int Pool::PoolInstances() const {
  int instances = 0;
  for (const Version* version : versions_.active()) {
    if (version != nullptr) instances += version->pool_.total_instances();
  }
  return instances;
}

int Pool::PoolStarting() const {
  int starting = 0;
  for (const Version* version : versions_.active()) {
    if (version != nullptr) starting += version->pool_.starting;
  }
  return starting;
}

absl::Status Pool::NextPrewarm(int target, Start* start) {
  MutexLock lock(mu_);
  for (;;) {
    if (!open_) {
      return absl::NotFoundError(
          FunctionSentence(spec_.name, " is not registered (unregistered)"));
    }
    Version* version = versions_.stable();
    // The canary's instances count against max_instances too.
    if (version->pool_.total_instances() >= target ||
        PoolInstances() >= spec_.pool.max_instances) {
      *start = Start{};
      return absl::OkStatus();
    }
    if (version->pool_.load_state == Version::LoadState::kLoading) {
      host_.clock->WaitUntil(cv_, lock.native(), absl::InfiniteFuture());
      continue;
    }
    *start = Start{};
    if (!ChargeMemory(&start->needs_room)) return absl::OkStatus();  // memory budget
    BeginStart(version, version->pool_.load_state == Version::LoadState::kUnloaded, start);
    return absl::OkStatus();
  }
}

int Pool::StableInstances() {
  MutexLock lock(mu_);
  return versions_.stable()->pool_.total_instances();
}

}  // namespace fnhost::internal
