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

// Where a caller that did not get a slot at once stands.
struct Pool::Waiter {
  uint64_t ticket = 0;  // its place in the queue; 0: not queued
  absl::Time deadline = absl::InfiniteFuture();
  bool deadline_known = false;  // the deadline counts from when the caller starts to wait
  uint64_t awaited_load = UINT64_MAX;  // the load attempt this caller waited for
};

Pool::Pool(const HostContext& host, const FunctionSpec& spec)
    : host_(host),
      spec_(spec),
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
    return absl::OkStatus();
  }
  absl::Status status = AcquireSlow(lock, options, to_canary, lease, start, garbage);
  // This caller may have been the last one queued after an Unregister.
  if (!status.ok() && !open_) RetireIfDrained(garbage);
  return status;
}

absl::Status Pool::AcquireSlow(MutexLock& lock, const CallOptions& options, bool to_canary,
                               Lease* lease, Start* start, Garbage* garbage) {
  const absl::Duration timeout = options.timeout == absl::InfiniteDuration()
                                     ? spec_.pool.default_timeout
                                     : options.timeout;
  Waiter waiter;
  for (;;) {
    Version* version = to_canary && versions_.canary() != nullptr ? versions_.canary()
                                                                   : versions_.stable();
    if (!open_ && waiter.ticket == 0) {
      return absl::NotFoundError(
          FunctionSentence(spec_.name, " is not registered (unregistered)"));
    }
    const bool my_turn = queue_.empty() || (waiter.ticket != 0 && queue_.front() == waiter.ticket);
    if (my_turn) {
      if (std::optional<absl::Status> taken = TakeTurn(version, waiter, lease, start, garbage)) {
        return *taken;
      }
    }
    if (version->pool_.load_state == Version::LoadState::kLoading) {
      waiter.awaited_load = version->pool_.load_attempts;
    }
    if (waiter.ticket == 0) {
      if (absl::Status status = Enqueue(waiter); !status.ok()) return status;
    }
    if (!waiter.deadline_known) {
      waiter.deadline = host_.clock->Now() + timeout;
      // A caller that stops waiting earlier does not wait for an instance past that either.
      if (options.context != nullptr) {
        waiter.deadline = std::min(waiter.deadline, options.context->deadline);
      }
      waiter.deadline_known = true;
    }
    if (host_.clock->Now() >= waiter.deadline) {
      Leave(waiter);
      return Rejected(absl::DeadlineExceededError(FunctionMessage(
                          spec_.name, "no instance became free within the call's deadline (",
                          absl::FormatDuration(timeout), ")")),
                      "deadline");
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
  if ((load || record.load_state == LoadState::kReady) &&
      (PoolInstances() < spec_.pool.max_instances ||
       EvictIdleForRoom(version, /*include_keep=*/false, garbage))) {
    Leave(waiter);
    BeginStart(version, load, start);
    return absl::OkStatus();
  }
  return std::nullopt;
}

absl::Status Pool::Enqueue(Waiter& waiter) {
  if (static_cast<int>(queue_.size()) >= spec_.pool.max_queue) {
    return Rejected(absl::ResourceExhaustedError(FunctionMessage(
                        spec_.name, "all ", spec_.pool.max_instances,
                        " instances are busy and the queue is full (max_queue ",
                        spec_.pool.max_queue, ")")),
                    "queue_full");
  }
  waiter.ticket = ++next_ticket_;
  queue_.push_back(waiter.ticket);
  return absl::OkStatus();
}

void Pool::Leave(Waiter& waiter) {
  if (waiter.ticket == 0) return;
  queue_.erase(std::find(queue_.begin(), queue_.end(), waiter.ticket));
  waiter.ticket = 0;
  cv_.notify_all();  // the next caller in line may now proceed
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
  cv_.notify_all();
  // Retired meanwhile (reload, promote, clear): an instance nobody waits for goes at once.
  if (record.retired) CollectRetired(garbage);
  RetireIfDrained(garbage);
  *module_version = version->module_version();
  return snapshot;
}

void Pool::AddInstance(Version* version, BackendInstance* handle) {
  auto owned = std::make_unique<Instance>();
  owned->handle = handle;
  owned->idle_since = host_.CoarseNow();
  for (int i = 0; i < version->concurrency(); ++i) version->pool_.free_slots.push_back(owned.get());
  version->pool_.instances.push_back(std::move(owned));
}

void Pool::Release(const Lease& lease, Garbage* garbage) {
  MutexLock lock(mu_, MutexLock::Spin::kFirst);
  Version* version = lease.version;
  Instance* instance = lease.instance;
  Version::PoolRecord& record = version->pool_;
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
  if (!queue_.empty() || inflight_ == 0) cv_.notify_all();
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

bool Pool::EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage) {
  Version* oldest_version = nullptr;
  Instance* oldest = nullptr;
  for (Version* version : versions_.active()) {
    if (version == nullptr || (version == keep && !include_keep)) continue;
    for (const std::unique_ptr<Instance>& instance : version->pool_.instances) {
      if (instance->inflight == 0 &&
          (oldest == nullptr || instance->idle_since < oldest->idle_since)) {
        oldest_version = version;
        oldest = instance.get();
      }
    }
  }
  if (oldest == nullptr) return false;
  RemoveIdleInstance(oldest_version, oldest, garbage, /*evicted=*/true);
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
    BeginStart(version, version->pool_.load_state == Version::LoadState::kUnloaded, start);
    return absl::OkStatus();
  }
}

int Pool::StableInstances() {
  MutexLock lock(mu_);
  return versions_.stable()->pool_.total_instances();
}

}  // namespace fnhost::internal
