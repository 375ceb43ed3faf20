// The Pool's versions: installing staged ones (reload, canary), promoting and clearing the
// canary, closing at Unregister, draining retired versions, keep-alive, and what the pool
// reports. The call path is in pool.cc.

#include <algorithm>
#include <utility>

#include "src/common/function_error.h"
#include "src/host/pool.h"

namespace fnhost::internal {
namespace {

absl::Status NoCanaryError(std::string_view function) {
  return absl::FailedPreconditionError(
      FunctionSentence(function, " has no canary (see Host::SetCanary)"));
}

}  // namespace

bool Pool::LoadedNow(const Version& version) {
  return version.pool_.load_state != Version::LoadState::kLoading && version.loaded();
}

absl::StatusOr<Version*> Pool::Install(std::unique_ptr<Version> staged,
                                       const std::vector<BackendInstance*>& instances,
                                       bool as_canary, uint32_t share, Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  Version* version = staged.get();
  for (BackendInstance* handle : instances) AddInstance(version, handle);
  version->pool_.load_state = Version::LoadState::kReady;
  version->pool_.load_attempts = 1;
  if (!open_) {
    // Torn down after the lock, like any other version.
    while (!version->pool_.instances.empty()) {
      RemoveIdleInstance(version, version->pool_.instances.back().get(), garbage);
    }
    garbage->versions.push_back(std::move(staged));
    return absl::NotFoundError(FunctionSentence(
        spec_.name, " was unregistered during ",
        as_canary ? "the canary load of " : "the reload of ", version->module_path()));
  }
  versions_.Install(std::move(staged), as_canary);
  if (as_canary) router_.SetShare(share);
  Version* snapshot = PinForSnapshot(version);
  // Keep max_instances: make room by evicting idle instances, the other version's first, and
  // as a last resort the new version's own idle instance (it stays loaded; its next call
  // creates one).
  while (PoolInstances() > spec_.pool.max_instances &&
         (EvictIdleForRoom(version, /*include_keep=*/false, garbage) ||
          EvictIdleForRoom(nullptr, /*include_keep=*/true, garbage))) {
  }
  CollectRetired(garbage);
  Wake(garbage);
  MaybeOpenLane();
  return snapshot;
}

absl::Status Pool::SetCanaryShare(uint32_t share) {
  MutexLock lock(mu_);
  if (versions_.canary() == nullptr) return NoCanaryError(spec_.name);
  router_.SetShare(share);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Pool::PromoteCanary(Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  if (versions_.canary() == nullptr) return NoCanaryError(spec_.name);
  std::string module_version = versions_.canary()->module_version();
  versions_.PromoteCanary();
  router_.Clear();
  CollectRetired(garbage);
  Wake(garbage);  // queued callers of either version now wait for the promoted one
  return module_version;
}

void Pool::ClearCanary(Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  if (versions_.canary() == nullptr) return;
  versions_.RetireCanary();
  router_.Clear();
  CollectRetired(garbage);
  Wake(garbage);  // queued canary callers now wait for the stable version
}

void Pool::Close(Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  open_ = false;
  RetireIfDrained(garbage);
  Wake(garbage);
}

void Pool::CloseAndDrain(Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  open_ = false;
  while (inflight_ > 0 || !queue_.empty() || PoolStarting() > 0) {
    host_.clock->WaitUntil(cv_, lock.native(), absl::InfiniteFuture());
  }
  RetireIfDrained(garbage);
}

void Pool::RetireIfDrained(Garbage* garbage) {
  if (open_ || !queue_.empty() || inflight_ > 0 || PoolStarting() > 0) return;
  if (versions_.all_retired()) return;  // already done
  versions_.RetireAll();
  CollectRetired(garbage);
}

void Pool::UnloadStableIfDrained(int destroying_now, Garbage* garbage) {
  Version* stable = versions_.stable();
  if (!LoadedNow(*stable) || !queue_.empty() ||
      !VersionLifecycle::IsDrained(*stable, destroying_now)) {
    return;
  }
  // The next call loads again.
  versions_.RefreshStable();
  CollectRetired(garbage);
}

Version* Pool::PinForSnapshot(Version* version) {
  if (!host_.run_in_background || !version->ShouldWriteSnapshot()) return nullptr;
  ++version->pool_.pins;
  return version;
}

Version* Pool::HoldStable(Lease* lease) {
  MutexLock lock(mu_);
  Version* stable = versions_.stable();
  if (!open_ || !LoadedNow(*stable)) return nullptr;
  ++stable->pool_.pins;
  if (!stable->pool_.free_slots.empty()) TakeSlot(stable, lease, /*cold=*/false);
  return stable;
}

void Pool::ReleaseHold(Version* version, const Lease& lease, Garbage* garbage) {
  if (lease.instance != nullptr) Release(lease, garbage);
  Unpin(version, garbage);
}

void Pool::Unpin(Version* version, Garbage* garbage) {
  MutexLock lock(mu_);
  --version->pool_.pins;
  CollectRetired(garbage);
}

void Pool::InstancesDestroyed(const Garbage& destroyed, Garbage* more) {
  MutexLock lock(mu_);
  for (const Garbage::Dead& dead : destroyed.instances) --dead.version->pool_.destroying;
  // A retired version whose last instances these were can go now.
  CollectRetired(more);
}

void Pool::CollectRetired(Garbage* garbage) {
  for (const std::unique_ptr<Version>& version : versions_.retired()) {
    const auto& instances = version->pool_.instances;
    for (size_t i = instances.size(); i-- > 0;) {
      Instance* instance = instances[i].get();
      if (instance->inflight == 0) RemoveIdleInstance(version.get(), instance, garbage);
    }
  }
  versions_.TakeDrained(&garbage->versions);
}

std::vector<Pool::Idle> Pool::IdleInstances(int* busy) const {
  std::vector<Idle> idle;
  int instances = 0;
  for (Version* version : versions_.active()) {
    if (version == nullptr) continue;
    instances += static_cast<int>(version->pool_.instances.size());
    for (const std::unique_ptr<Instance>& instance : version->pool_.instances) {
      if (instance->inflight == 0) idle.push_back({version, instance.get()});
    }
  }
  std::sort(idle.begin(), idle.end(), [](const Idle& a, const Idle& b) {
    return a.instance->idle_since < b.instance->idle_since;
  });
  *busy = instances - static_cast<int>(idle.size());
  return idle;
}

int Pool::ApplyKeepAlive(absl::Time now, absl::Time wall_now, Garbage* garbage) {
  MutexLock lock(mu_);
  RevokeLane();
  if (!open_) return 0;
  // The stable version and the canary form one pool: the policy sees all their instances.
  int busy = 0;
  const std::vector<Idle> idle = IdleInstances(&busy);
  std::vector<absl::Time> idle_since;
  idle_since.reserve(idle.size());
  for (const Idle& entry : idle) idle_since.push_back(entry.instance->idle_since);
  Version* stable = versions_.stable();
  const bool loaded = LoadedNow(*stable);
  const KeepAliveController::Decision decision =
      keep_alive_.Decide(now, wall_now, idle_since, busy, loaded, spec_.pool.min_instances,
                         spec_.pool.max_instances);
  const int evict = std::min<int>(decision.evict, static_cast<int>(idle.size()));
  int evicted_stable = 0;
  for (int i = 0; i < evict; ++i) {
    evicted_stable += idle[i].version == stable;
    RemoveIdleInstance(idle[i].version, idle[i].instance, garbage, /*evicted=*/true);
  }
  // Only the stable version scales to zero: a canary stays loaded while it is set.
  if (decision.unload) UnloadStableIfDrained(/*destroying_now=*/evicted_stable, garbage);
  MaybeOpenLane();
  return decision.prewarm;
}

FunctionStatus Pool::Status() {
  MutexLock lock(mu_);
  RevokeLane();
  FunctionStatus status;
  status.name = spec_.name;
  const Version* stable = versions_.stable();
  status.module_path = stable->module_path();
  status.loaded = LoadedNow(*stable);
  if (status.loaded) status.module_version = stable->module_version();
  status.idle_instances = stable->pool_.idle_instances();
  status.busy_instances = stable->pool_.busy_instances();
  status.queued_calls = static_cast<int>(queue_.size());
  if (const Version* canary = versions_.canary(); canary != nullptr) {
    status.canary = FunctionStatus::Canary{
        .module_path = canary->module_path(),
        .module_version = canary->module_version(),
        .share = router_.share(),
        .idle_instances = canary->pool_.idle_instances(),
        .busy_instances = canary->pool_.busy_instances(),
    };
    status.idle_instances += status.canary->idle_instances;
    status.busy_instances += status.canary->busy_instances;
  }
  MaybeOpenLane();
  return status;
}

PoolGauges Pool::Gauges() {
  MutexLock lock(mu_);
  RevokeLane();
  PoolGauges gauges;
  gauges.function = spec_.name;
  for (const Version* version : versions_.active()) {
    if (version == nullptr) continue;
    gauges.idle_instances += version->pool_.idle_instances();
    gauges.busy_instances += version->pool_.busy_instances();
    gauges.starting_instances += version->pool_.starting;
  }
  gauges.queued_calls = static_cast<int64_t>(queue_.size());
  gauges.loaded = LoadedNow(*versions_.stable());
  if (versions_.canary() != nullptr) gauges.canary_share = router_.share();
  MaybeOpenLane();
  return gauges;
}

}  // namespace fnhost::internal
