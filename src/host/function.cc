#include "src/host/function.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/cpu_relax.h"
#include "src/runtime/abi_glue.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost::internal {
namespace {

std::unique_lock<std::mutex> LockSpinningFirst(std::mutex& mu) {
  constexpr int kSpins = 64;
  for (int i = 0; i < kSpins; ++i) {
    if (mu.try_lock()) return std::unique_lock<std::mutex>(mu, std::adopt_lock);
    CpuRelax();
  }
  return std::unique_lock<std::mutex>(mu);
}

int TotalInstances(const Version& version) {
  return static_cast<int>(version.instances.size()) + version.starting;
}

constexpr uint32_t kMillion = 1'000'000;

absl::StatusOr<uint32_t> ShareInMillionths(const std::string& function, double share) {
  if (!(share >= 0.0 && share <= 1.0)) {  // NaN fails both
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", function, "': canary share ", share, " must be between 0 and 1"));
  }
  return static_cast<uint32_t>(std::llround(share * kMillion));
}

// A version's module fields are written by its loader without the pool lock; under the lock
// they may be read only once its load is over (load_state, set under the lock, says so).
bool LoadedNow(const Version& version) {
  return version.load_state != Version::LoadState::kLoading && version.loaded();
}

absl::Status Rejected(absl::Status status, absl::string_view reason) {
  status.SetPayload(kRejectionPayloadUrl, absl::Cord(reason));
  return status;
}

absl::Status NoCanaryError(const std::string& function) {
  return absl::FailedPreconditionError(
      absl::StrCat("function '", function, "' has no canary (see Host::SetCanary)"));
}

}  // namespace

Function::Function(const HostContext& host, FunctionSpec spec)
    : host_(host),
      spec_(std::move(spec)),
      current_(std::make_unique<Version>(host_, spec_, spec_.module_path)),
      keep_alive_(MakeKeepAlivePolicy(spec_.pool.keep_alive)),
      recorder_(host_.sink != nullptr ? host_.sink->NewInvocationRecorder(spec_.name) : nullptr) {}

void Function::ReportInvocation(const InvocationEvent& event) {
  if (recorder_ != nullptr) {
    recorder_->Record(event);
  } else {
    host_.sink->OnInvocation(event);
  }
}

Function::~Function() { Shutdown(); }

absl::Time Function::CoarseNow() const { return host_.CoarseNow(); }

// ---- The call path ------------------------------------------------------------------------

absl::Status Function::Invoke(std::string_view request, std::string* response,
                              const CallOptions& options) {
  MetricsSink* sink = host_.sink;
  Clock* clock = host_.clock;
  const int64_t start = sink != nullptr ? clock->Ticks() : 0;
  Lease lease;
  absl::Status status = Acquire(options, &lease);
  if (!status.ok()) {
    ReportRejection(status);
    if (sink != nullptr) {
      ReportInvocation(InvocationEvent{spec_.name, {},
                                       clock->TicksToDuration(clock->Ticks() - start), false,
                                       status.code()});
    }
    return status;
  }

  status = lease.version->Invoke(lease.instance->handle, request, response);

  if (sink != nullptr) {
    ReportInvocation(InvocationEvent{spec_.name, lease.version->module_version(),
                                     clock->TicksToDuration(clock->Ticks() - start), lease.cold,
                                     status.code()});
  }
  Release(lease);
  return status;
}

absl::Status Function::Acquire(const CallOptions& options, Lease* lease) {
  std::unique_lock<std::mutex> lock = LockSpinningFirst(mu_);
  Version* version = current_.get();
  bool to_canary = false;
  if (canary_ != nullptr && registered_) [[unlikely]] {
    to_canary = RouteToCanary();
    if (to_canary) version = canary_.get();
  }
  if (registered_ && queue_.empty() && !version->free_slots.empty()) {
    TakeSlot(version, lease, /*cold=*/false);
    return absl::OkStatus();
  }
  absl::Status status = AcquireSlow(lock, options, to_canary, lease);
  if (!status.ok() && !registered_) {
    // This caller may have been the last one queued after an Unregister.
    Garbage garbage;
    RetireIfDrained(&garbage);
    lock.unlock();
    Destroy(garbage);
  }
  return status;
}

void Function::ReportRejection(const absl::Status& status) {
  std::string reason = RejectionReason(status);
  if (reason.empty() && absl::IsNotFound(status)) reason = "unregistered";
  // Anything else is a failed load: counted as an error, not a rejection.
  if (!reason.empty()) ReportPoolEvent({}, PoolEventKind::kRejected, reason);
}

bool Function::RouteToCanary() {
  split_credit_ += canary_millionths_;
  if (split_credit_ < kMillion) return false;
  split_credit_ -= kMillion;
  return true;
}

int Function::PoolInstances() const {
  return TotalInstances(*current_) + (canary_ != nullptr ? TotalInstances(*canary_) : 0);
}

int Function::PoolStarting() const {
  return current_->starting + (canary_ != nullptr ? canary_->starting : 0);
}

bool Function::EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage) {
  Version* oldest_version = nullptr;
  Instance* oldest = nullptr;
  for (Version* version : {current_.get(), canary_.get()}) {
    if (version == nullptr || (version == keep && !include_keep)) continue;
    for (const std::unique_ptr<Instance>& instance : version->instances) {
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

absl::Status Function::AcquireSlow(std::unique_lock<std::mutex>& lock,
                                   const CallOptions& options, bool to_canary, Lease* lease) {
  uint64_t ticket = 0;  // 0: not queued
  auto leave_queue = [&] {
    if (ticket == 0) return;
    queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
    ticket = 0;
    cv_.notify_all();  // the next caller in line may now proceed
  };
  const absl::Duration timeout = options.timeout == absl::InfiniteDuration()
                                     ? spec_.pool.default_timeout
                                     : options.timeout;
  absl::Time deadline = absl::InfiniteFuture();
  bool deadline_known = false;
  uint64_t awaited_load = UINT64_MAX;  // the load attempt this caller waited for

  for (;;) {
    Version* version = Target(to_canary);
    if (!registered_ && ticket == 0) {
      return absl::NotFoundError(
          absl::StrCat("function '", spec_.name, "' is not registered (unregistered)"));
    }
    const bool my_turn = queue_.empty() || (ticket != 0 && queue_.front() == ticket);
    if (my_turn) {
      if (!version->free_slots.empty()) {
        leave_queue();
        TakeSlot(version, lease, /*cold=*/false);
        return absl::OkStatus();
      }
      using LoadState = Version::LoadState;
      if (version->load_state == LoadState::kUnloaded && awaited_load != UINT64_MAX &&
          version->load_attempts > awaited_load && !version->last_load_error.ok()) {
        // The load this caller waited for failed: report its error rather than retry it once
        // per waiter.
        leave_queue();
        return version->last_load_error;
      }
      const bool load = version->load_state == LoadState::kUnloaded;
      Garbage evicted;
      if ((load || version->load_state == LoadState::kReady) &&
          (PoolInstances() < spec_.pool.max_instances ||
           EvictIdleForRoom(version, /*include_keep=*/false, &evicted))) {
        leave_queue();
        ++version->starting;
        if (load) version->load_state = LoadState::kLoading;
        if (!evicted.empty()) {
          lock.unlock();
          Destroy(evicted);
          lock.lock();
        }
        return StartInstance(lock, version, load, lease, /*prewarm=*/false);
      }
    }
    if (version->load_state == Version::LoadState::kLoading) {
      awaited_load = version->load_attempts;
    }
    if (ticket == 0) {
      if (static_cast<int>(queue_.size()) >= spec_.pool.max_queue) {
        return Rejected(absl::ResourceExhaustedError(absl::StrCat(
                            "function '", spec_.name, "': all ", spec_.pool.max_instances,
                            " instances are busy and the queue is full (max_queue ",
                            spec_.pool.max_queue, ")")),
                        "queue_full");
      }
      ticket = ++next_ticket_;
      queue_.push_back(ticket);
    }
    if (!deadline_known) {  // from when the caller starts to wait
      deadline = host_.clock->Now() + timeout;
      deadline_known = true;
    }
    if (host_.clock->Now() >= deadline) {
      leave_queue();
      return Rejected(absl::DeadlineExceededError(absl::StrCat(
                          "function '", spec_.name,
                          "': no instance became free within the call's deadline (",
                          absl::FormatDuration(timeout), ")")),
                      "deadline");
    }
    host_.clock->WaitUntil(cv_, lock, deadline);
  }
}

void Function::TakeSlot(Version* version, Lease* lease, bool cold) {
  Instance* instance = version->free_slots.back();
  version->free_slots.pop_back();
  // The keep-alive controller counts busy instances, as the simulator does.
  if (instance->inflight++ == 0) keep_alive_.OnInstanceBusy(CoarseNow());
  ++version->inflight;
  ++inflight_;
  *lease = Lease{version, instance, cold};
}

absl::Status Function::StartInstance(std::unique_lock<std::mutex>& lock, Version* version,
                                     bool load, Lease* lease, bool prewarm) {
  lock.unlock();
  ColdStartEvent event;
  event.prewarm = prewarm;
  event.state_source = StateSource::kShared;
  const absl::Time start = host_.clock->Now();
  absl::Status status = load ? version->Load(&event) : absl::OkStatus();
  BackendInstance* handle = nullptr;
  if (status.ok()) {
    absl::Time before = host_.clock->Now();
    absl::StatusOr<BackendInstance*> created = version->NewInstance();
    event.instance_create = host_.clock->Now() - before;
    if (created.ok()) {
      handle = *created;
    } else {
      status = created.status();
    }
  }
  event.total = host_.clock->Now() - start;
  event.outcome = status.code();
  lock.lock();

  --version->starting;
  if (load) {
    ++version->load_attempts;
    version->load_state = status.ok() || version->loaded() ? Version::LoadState::kReady
                                                           : Version::LoadState::kUnloaded;
    version->last_load_error = version->loaded() ? absl::OkStatus() : status;
  }
  if (load && version->loaded() && version->should_write_snapshot()) ScheduleSnapshot(version);
  if (status.ok()) {
    AddInstance(version, handle);
    if (lease != nullptr) TakeSlot(version, lease, /*cold=*/true);
  }
  cv_.notify_all();
  Garbage garbage;
  // Retired meanwhile (reload, promote, clear): an instance nobody waits for goes at once.
  if (version->retired) CollectRetired(&garbage);
  RetireIfDrained(&garbage);
  // Copied: once the lock is released, an idle instance (and its version) may go away.
  const std::string module_version = version->module_version();
  lock.unlock();

  Destroy(garbage);
  if (host_.sink != nullptr) {
    event.function = spec_.name;
    event.module_version = module_version;
    host_.sink->OnColdStart(event);
  }
  if (prewarm && status.ok()) ReportPoolEvent(module_version, PoolEventKind::kPrewarm, {});
  lock.lock();
  return status;
}

void Function::AddInstance(Version* version, BackendInstance* handle) {
  auto owned = std::make_unique<Instance>();
  owned->handle = handle;
  owned->idle_since = CoarseNow();
  for (int i = 0; i < version->concurrency(); ++i) version->free_slots.push_back(owned.get());
  version->instances.push_back(std::move(owned));
}

void Function::Release(const Lease& lease) {
  Garbage garbage;
  {
    std::unique_lock<std::mutex> lock = LockSpinningFirst(mu_);
    Version* version = lease.version;
    Instance* instance = lease.instance;
    --instance->inflight;
    --version->inflight;
    const absl::Time now = CoarseNow();
    if (instance->inflight == 0) {
      instance->idle_since = now;
      keep_alive_.OnInstanceIdle(now);
    }
    --inflight_;
    if (version->retired) {
      if (instance->inflight == 0) RemoveIdleInstance(version, instance, &garbage);
      CollectRetired(&garbage);
    } else if (version->IsLost(instance->handle)) {
      // A worker process that died during the call (concurrency 1): the next call spawns anew.
      RemoveIdleInstance(version, instance, &garbage);
    } else {
      version->free_slots.push_back(instance);
    }
    if (inflight_ == 0) RetireIfDrained(&garbage);
    if (!queue_.empty() || inflight_ == 0) cv_.notify_all();
  }
  if (!garbage.empty()) Destroy(garbage);
}

// ---- Pool management ------------------------------------------------------------------------

void Function::RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage,
                                  bool evicted) {
  auto& slots = version->free_slots;
  slots.erase(std::remove(slots.begin(), slots.end(), instance), slots.end());
  auto& instances = version->instances;
  auto it = std::find_if(instances.begin(), instances.end(),
                         [instance](const auto& owned) { return owned.get() == instance; });
  garbage->instances.push_back({version, instance->handle, evicted});
  ++version->destroying;
  instances.erase(it);
}

void Function::CollectRetired(Garbage* garbage) {
  for (auto it = retired_.begin(); it != retired_.end();) {
    Version& version = **it;
    for (size_t i = version.instances.size(); i-- > 0;) {
      Instance* instance = version.instances[i].get();
      if (instance->inflight == 0) RemoveIdleInstance(&version, instance, garbage);
    }
    if (version.inflight == 0 && version.starting == 0 && version.instances.empty() &&
        version.destroying == 0 && version.pins == 0) {
      garbage->versions.push_back(std::move(*it));
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
}

void Function::ScheduleSnapshot(Version* version) {
  if (!host_.run_in_background) return;
  ++version->pins;
  host_.run_in_background(
      [self = shared_from_this(), version] {
        version->WriteSnapshot().IgnoreError();  // reported through the metrics hook
        Garbage garbage;
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          --version->pins;
          self->CollectRetired(&garbage);
        }
        self->Destroy(garbage);
      },
      /*finish_at_shutdown=*/true);
}

void Function::Retire(std::unique_ptr<Version> version) {
  version->retired = true;
  retired_.push_back(std::move(version));
}

void Function::RetireIfDrained(Garbage* garbage) {
  if (registered_ || !queue_.empty() || inflight_ > 0 || PoolStarting() > 0) return;
  if (current_->retired) return;  // already done
  if (canary_ != nullptr) Retire(std::move(canary_));
  Retire(std::move(current_));
  // A placeholder that never loads: callers are refused before they could start a load.
  current_ = std::make_unique<Version>(host_, spec_, spec_.module_path);
  current_->retired = true;
  CollectRetired(garbage);
}

void Function::Destroy(Garbage& garbage) {
  // Instances first: a version's state must outlive them.
  for (const Garbage::Dead& dead : garbage.instances) {
    dead.version->DestroyInstance(dead.handle);
    if (dead.evicted) ReportPoolEvent(dead.version->module_version(), PoolEventKind::kEviction, {});
  }
  Garbage more;
  if (!garbage.instances.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Garbage::Dead& dead : garbage.instances) --dead.version->destroying;
    // A retired version whose last instances these were can go now.
    CollectRetired(&more);
  }
  for (std::unique_ptr<Version>& version : garbage.versions) {
    if (!version->loaded()) continue;
    const std::string module_version = version->module_version();
    const UnloadReport report = version->Unload();
    if (report.result == UnloadResult::kUnloaded) {
      ReportPoolEvent(module_version, PoolEventKind::kUnload, {});
    } else {
      ReportPoolEvent(module_version, PoolEventKind::kUnloadFailed, report.reason);
    }
  }
  if (!more.empty()) Destroy(more);
}

absl::Status Function::Prewarm(int instances, bool report_as_prewarm) {
  std::unique_lock<std::mutex> lock(mu_);
  const int target = std::min(instances, spec_.pool.max_instances);
  for (;;) {
    if (!registered_) {
      return absl::NotFoundError(
          absl::StrCat("function '", spec_.name, "' is not registered (unregistered)"));
    }
    Version* version = current_.get();
    // The canary's instances count against max_instances too.
    if (TotalInstances(*version) >= target || PoolInstances() >= spec_.pool.max_instances) {
      return absl::OkStatus();
    }
    if (version->load_state == Version::LoadState::kLoading) {
      host_.clock->WaitUntil(cv_, lock, absl::InfiniteFuture());
      continue;
    }
    const bool load = version->load_state == Version::LoadState::kUnloaded;
    ++version->starting;
    if (load) version->load_state = Version::LoadState::kLoading;
    if (absl::Status status = StartInstance(lock, version, load, nullptr, report_as_prewarm);
        !status.ok()) {
      return status;
    }
  }
}

absl::StatusOr<std::unique_ptr<Version>> Function::Stage(const std::string& module_path,
                                                         int instances) {
  auto staged = std::make_unique<Version>(host_, spec_, module_path);
  Version* version = staged.get();
  // Load and warm the new version off to the side: callers keep using the current ones.
  ColdStartEvent event;
  event.prewarm = true;
  const absl::Time start = host_.clock->Now();
  absl::Status status = version->Load(&event);
  BackendInstance* handle = nullptr;
  if (status.ok()) {
    absl::Time before = host_.clock->Now();
    absl::StatusOr<BackendInstance*> created = version->NewInstance();
    event.instance_create = host_.clock->Now() - before;
    if (created.ok()) handle = *created; else status = created.status();
  }
  event.total = host_.clock->Now() - start;
  event.outcome = status.code();
  if (host_.sink != nullptr) {
    event.function = spec_.name;
    event.module_version = version->module_version();
    host_.sink->OnColdStart(event);
  }
  if (!status.ok()) return status;  // `staged` unloads itself
  // Not shared yet: no lock needed for its pool fields.
  AddInstance(version, handle);
  for (int i = 1; i < instances; ++i) {
    absl::StatusOr<BackendInstance*> more = version->NewInstance();
    if (!more.ok()) break;  // callers create the rest, and see the error if it lasts
    AddInstance(version, *more);
  }
  version->load_state = Version::LoadState::kReady;
  version->load_attempts = 1;
  return staged;
}

absl::Status Function::Install(std::unique_ptr<Version> staged, bool as_canary,
                               Garbage* garbage) {
  Version* version = staged.get();
  if (!registered_) {
    // Torn down after the lock, like any other version.
    RemoveIdleInstance(version, version->instances.front().get(), garbage);
    garbage->versions.push_back(std::move(staged));
    return absl::NotFoundError(absl::StrCat("function '", spec_.name, "' was unregistered during ",
                                            as_canary ? "the canary load of " : "the reload of ",
                                            version->module_path()));
  }
  std::unique_ptr<Version>& slot = as_canary ? canary_ : current_;
  if (slot != nullptr) Retire(std::move(slot));
  slot = std::move(staged);
  if (version->should_write_snapshot()) ScheduleSnapshot(version);
  // Keep max_instances: make room by evicting idle instances, the other version's first, and
  // as a last resort the new version's own idle instance (it stays loaded; its next call
  // creates one).
  while (PoolInstances() > spec_.pool.max_instances &&
         (EvictIdleForRoom(version, /*include_keep=*/false, garbage) ||
          EvictIdleForRoom(nullptr, /*include_keep=*/true, garbage))) {
  }
  CollectRetired(garbage);
  cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Function::Reload(const std::string& module_path) {
  // As many instances as the version it replaces has: callers find the new version warm, and
  // the instances' allocations are made here rather than spread over the callers' threads.
  int instances;
  {
    std::lock_guard<std::mutex> lock(mu_);
    instances = std::max(1, TotalInstances(*current_));
  }
  absl::StatusOr<std::unique_ptr<Version>> staged = Stage(module_path, instances);
  if (!staged.ok()) return staged.status();  // the current version serves on
  const std::string module_version = (*staged)->module_version();
  Garbage garbage;
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status = Install(*std::move(staged), /*as_canary=*/false, &garbage);
  }
  if (status.ok()) ReportPoolEvent(module_version, PoolEventKind::kReload, {});
  Destroy(garbage);
  return status;
}

absl::Status Function::SetCanary(const std::string& module_path, double share) {
  absl::StatusOr<uint32_t> millionths = ShareInMillionths(spec_.name, share);
  if (!millionths.ok()) return millionths.status();
  absl::StatusOr<std::unique_ptr<Version>> staged = Stage(module_path, 1);
  if (!staged.ok()) return staged.status();  // the stable version keeps all traffic
  Garbage garbage;
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status = Install(*std::move(staged), /*as_canary=*/true, &garbage);
    if (status.ok()) {
      canary_millionths_ = *millionths;
      split_credit_ = kMillion / 2;  // rounds: N calls give round(N * share)
    }
  }
  Destroy(garbage);
  return status;
}

absl::Status Function::SetCanaryShare(double share) {
  absl::StatusOr<uint32_t> millionths = ShareInMillionths(spec_.name, share);
  if (!millionths.ok()) return millionths.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (canary_ == nullptr) return NoCanaryError(spec_.name);
  canary_millionths_ = *millionths;
  split_credit_ = kMillion / 2;  // rounds: N calls give round(N * share)
  return absl::OkStatus();
}

absl::Status Function::PromoteCanary() {
  Garbage garbage;
  std::string module_version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (canary_ == nullptr) return NoCanaryError(spec_.name);
    module_version = canary_->module_version();
    Retire(std::move(current_));
    current_ = std::move(canary_);
    canary_millionths_ = 0;
    CollectRetired(&garbage);
    cv_.notify_all();  // queued callers of either version now wait for the promoted one
  }
  ReportPoolEvent(module_version, PoolEventKind::kReload, {});
  Destroy(garbage);
  return absl::OkStatus();
}

absl::Status Function::ClearCanary() {
  Garbage garbage;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (canary_ == nullptr) return absl::OkStatus();
    Retire(std::move(canary_));
    canary_millionths_ = 0;
    CollectRetired(&garbage);
    cv_.notify_all();  // queued canary callers now wait for the stable version
  }
  Destroy(garbage);
  return absl::OkStatus();
}

void Function::Unregister() {
  Garbage garbage;
  {
    std::lock_guard<std::mutex> lock(mu_);
    registered_ = false;
    RetireIfDrained(&garbage);
    cv_.notify_all();
  }
  Destroy(garbage);
}

void Function::Maintain(absl::Time now, absl::Time wall_now) {
  Garbage garbage;
  int prewarm = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!registered_) return;
    // The stable version and the canary form one pool: the policy sees all their instances.
    struct Idle {
      Version* version;
      Instance* instance;
    };
    std::vector<Idle> idle;
    int instances = 0;
    for (Version* version : {current_.get(), canary_.get()}) {
      if (version == nullptr) continue;
      instances += static_cast<int>(version->instances.size());
      for (const auto& instance : version->instances) {
        if (instance->inflight == 0) idle.push_back({version, instance.get()});
      }
    }
    std::sort(idle.begin(), idle.end(), [](const Idle& a, const Idle& b) {
      return a.instance->idle_since < b.instance->idle_since;
    });
    std::vector<absl::Time> idle_since;
    idle_since.reserve(idle.size());
    for (const Idle& entry : idle) idle_since.push_back(entry.instance->idle_since);
    const int busy = instances - static_cast<int>(idle.size());
    Version* version = current_.get();
    const bool loaded = LoadedNow(*version);
    KeepAliveController::Decision decision =
        keep_alive_.Decide(now, wall_now, idle_since, busy, loaded, spec_.pool.min_instances,
                           spec_.pool.max_instances);

    const int evict = std::min<int>(decision.evict, static_cast<int>(idle.size()));
    int evicted_stable = 0;
    for (int i = 0; i < evict; ++i) {
      evicted_stable += idle[i].version == version;
      RemoveIdleInstance(idle[i].version, idle[i].instance, &garbage, /*evicted=*/true);
    }
    // Only the stable version scales to zero: a canary stays loaded while it is set.
    if (decision.unload && loaded && version->instances.empty() &&
        version->starting == 0 && version->inflight == 0 && queue_.empty() &&
        version->destroying == evicted_stable && version->pins == 0) {
      // Scale to zero: a fresh, unloaded version takes its place; the next call loads again.
      auto fresh =
          std::make_unique<Version>(host_, spec_, version->module_path(), version->hints());
      garbage.versions.push_back(std::move(current_));
      current_ = std::move(fresh);
    }
    prewarm = decision.prewarm;
  }
  Destroy(garbage);
  if (prewarm > 0) {
    int target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      target = TotalInstances(*current_) + prewarm;
    }
    Prewarm(target).IgnoreError();  // a failing prewarm shows in the cold-start metrics
  }
}

FunctionStatus Function::Status() {
  std::lock_guard<std::mutex> lock(mu_);
  FunctionStatus status;
  status.name = spec_.name;
  status.module_path = current_->module_path();
  status.loaded = LoadedNow(*current_);
  if (status.loaded) status.module_version = current_->module_version();
  status.idle_instances = current_->idle_instances();
  status.busy_instances = current_->busy_instances();
  status.queued_calls = static_cast<int>(queue_.size());
  if (canary_ != nullptr) {
    status.canary = FunctionStatus::Canary{
        .module_path = canary_->module_path(),
        .module_version = canary_->module_version(),
        .share = static_cast<double>(canary_millionths_) / kMillion,
        .idle_instances = canary_->idle_instances(),
        .busy_instances = canary_->busy_instances(),
    };
    status.idle_instances += status.canary->idle_instances;
    status.busy_instances += status.canary->busy_instances;
  }
  return status;
}

void Function::PublishGauges() {
  if (host_.sink == nullptr) return;
  PoolGauges gauges;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Version* version : {current_.get(), canary_.get()}) {
      if (version == nullptr) continue;
      gauges.idle_instances += version->idle_instances();
      gauges.busy_instances += version->busy_instances();
      gauges.starting_instances += version->starting;
    }
    gauges.queued_calls = static_cast<int64_t>(queue_.size());
    gauges.loaded = LoadedNow(*current_);
    if (canary_ != nullptr) gauges.canary_share = static_cast<double>(canary_millionths_) / kMillion;
  }
  gauges.function = spec_.name;
  host_.sink->OnPoolGauges(gauges);
}

void Function::Shutdown() {
  Garbage garbage;
  {
    std::unique_lock<std::mutex> lock(mu_);
    registered_ = false;
    while (inflight_ > 0 || !queue_.empty() || PoolStarting() > 0) {
      host_.clock->WaitUntil(cv_, lock, absl::InfiniteFuture());
    }
    RetireIfDrained(&garbage);
  }
  Destroy(garbage);
}

void Function::ReportPoolEvent(std::string_view module_version, PoolEventKind kind,
                               std::string_view reason) {
  if (host_.sink == nullptr) return;
  host_.sink->OnPoolEvent(PoolEvent{spec_.name, module_version, kind, reason});
}

}  // namespace fnhost::internal
