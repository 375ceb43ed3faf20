#include "src/host/function.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/host/abi_glue.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost::internal {
namespace {

int TotalInstances(const Version& version) {
  return static_cast<int>(version.instances.size()) + version.starting;
}

}  // namespace

Function::Function(const HostContext& host, FunctionSpec spec)
    : host_(host),
      spec_(std::move(spec)),
      current_(std::make_unique<Version>(host_, spec_, spec_.module_path,
                                         /*private_copy=*/false)),
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
  const absl::Time start = sink != nullptr ? host_.clock->Now() : absl::InfinitePast();
  Lease lease;
  absl::Status status = Acquire(options, start, &lease);
  if (!status.ok()) {
    ReportRejection(status);
    if (sink != nullptr) {
      ReportInvocation(InvocationEvent{spec_.name, {}, host_.clock->Now() - start, false,
                                         status.code()});
    }
    return status;
  }

  CallOutput output(response);
  int32_t code = lease.version->Invoke(lease.instance->handle, request, output.raw());
  if (code != FNHOST_STATUS_OK) status = output.ToStatus(code, spec_.name, "invoke");

  absl::Time end = absl::InfinitePast();
  if (sink != nullptr) {
    end = host_.clock->Now();
    ReportInvocation(InvocationEvent{spec_.name, lease.version->module_version(), end - start,
                                       lease.cold, status.code()});
  }
  Release(lease, end);
  return status;
}

absl::Status Function::Acquire(const CallOptions& options, absl::Time start, Lease* lease) {
  std::unique_lock<std::mutex> lock(mu_);
  Version* version = current_.get();
  if (registered_ && queue_.empty() && !version->free_slots.empty()) {
    TakeSlot(version, lease, /*cold=*/false);
    return absl::OkStatus();
  }
  absl::Status status = AcquireSlow(lock, options, start, lease);
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
  std::string_view reason;
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted: reason = "queue_full"; break;
    case absl::StatusCode::kDeadlineExceeded: reason = "deadline"; break;
    case absl::StatusCode::kNotFound: reason = "unregistered"; break;
    default: return;  // a failed load: counted as an error, not a rejection
  }
  ReportPoolEvent({}, PoolEventKind::kRejected, reason);
}

absl::Status Function::AcquireSlow(std::unique_lock<std::mutex>& lock,
                                   const CallOptions& options, absl::Time start,
                                   Lease* lease) {
  uint64_t ticket = 0;  // 0: not queued
  auto leave_queue = [&] {
    if (ticket == 0) return;
    queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
    ticket = 0;
    cv_.notify_all();  // the next caller in line may now proceed
  };
  absl::Time deadline = absl::InfiniteFuture();
  bool deadline_known = false;
  uint64_t awaited_load = UINT64_MAX;  // the load attempt this caller waited for

  for (;;) {
    Version* version = current_.get();
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
      if (load || (version->load_state == LoadState::kReady &&
                   TotalInstances(*version) < spec_.pool.max_instances)) {
        leave_queue();
        ++version->starting;
        if (load) version->load_state = LoadState::kLoading;
        return StartInstance(lock, version, load, lease, /*prewarm=*/false);
      }
    }
    if (version->load_state == Version::LoadState::kLoading) {
      awaited_load = version->load_attempts;
    }
    if (ticket == 0) {
      if (static_cast<int>(queue_.size()) >= spec_.pool.max_queue) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "function '", spec_.name, "': all ", spec_.pool.max_instances,
            " instances are busy and the queue is full (max_queue ", spec_.pool.max_queue, ")"));
      }
      ticket = ++next_ticket_;
      queue_.push_back(ticket);
    }
    if (!deadline_known) {
      absl::Duration timeout = options.timeout == absl::InfiniteDuration()
                                   ? spec_.pool.default_timeout
                                   : options.timeout;
      deadline = (start == absl::InfinitePast() ? host_.clock->Now() : start) + timeout;
      deadline_known = true;
    }
    if (host_.clock->Now() >= deadline) {
      leave_queue();
      return absl::DeadlineExceededError(
          absl::StrCat("function '", spec_.name, "': no instance became free within the call's "
                       "deadline (",
                       absl::FormatDuration(deadline - (start == absl::InfinitePast()
                                                            ? deadline
                                                            : start)),
                       ")"));
    }
    host_.clock->WaitUntil(cv_, lock, deadline);
  }
}

void Function::TakeSlot(Version* version, Lease* lease, bool cold) {
  Instance* instance = version->free_slots.back();
  version->free_slots.pop_back();
  ++instance->inflight;
  ++version->inflight;
  if (inflight_++ == 0) NoteArrival(CoarseNow());
  *lease = Lease{version, instance, cold};
}

void Function::NoteArrival(absl::Time now) { keep_alive_.OnArrival(now); }

absl::Status Function::StartInstance(std::unique_lock<std::mutex>& lock, Version* version,
                                     bool load, Lease* lease, bool prewarm) {
  lock.unlock();
  ColdStartEvent event;
  event.prewarm = prewarm;
  event.state_source = StateSource::kShared;
  const absl::Time start = host_.clock->Now();
  absl::Status status = load ? version->Load(&event) : absl::OkStatus();
  fnhost_module_instance* handle = nullptr;
  if (status.ok()) {
    absl::Time before = host_.clock->Now();
    absl::StatusOr<fnhost_module_instance*> created = version->NewInstance();
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
    auto owned = std::make_unique<Instance>();
    Instance* instance = owned.get();
    instance->handle = handle;
    instance->idle_since = CoarseNow();
    version->instances.push_back(std::move(owned));
    for (int i = 0; i < version->concurrency(); ++i) version->free_slots.push_back(instance);
    if (lease != nullptr) TakeSlot(version, lease, /*cold=*/true);
  }
  cv_.notify_all();
  Garbage garbage;
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

void Function::Release(const Lease& lease, absl::Time end) {
  Garbage garbage;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Version* version = lease.version;
    Instance* instance = lease.instance;
    --instance->inflight;
    --version->inflight;
    const absl::Time now = end == absl::InfinitePast() ? CoarseNow() : end;
    if (instance->inflight == 0) instance->idle_since = now;
    if (--inflight_ == 0) keep_alive_.OnIdle(now);
    if (version->retired) {
      if (instance->inflight == 0) RemoveIdleInstance(version, instance, &garbage);
      CollectRetired(&garbage);
    } else {
      version->free_slots.push_back(instance);
    }
    if (inflight_ == 0) RetireIfDrained(&garbage);
    if (!queue_.empty() || inflight_ == 0) cv_.notify_all();
  }
  if (!garbage.instances.empty() || !garbage.versions.empty()) Destroy(garbage);
}

// ---- Pool management ------------------------------------------------------------------------

void Function::RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage) {
  auto& slots = version->free_slots;
  slots.erase(std::remove(slots.begin(), slots.end(), instance), slots.end());
  auto& instances = version->instances;
  auto it = std::find_if(instances.begin(), instances.end(),
                         [instance](const auto& owned) { return owned.get() == instance; });
  garbage->instances.emplace_back(version, instance->handle);
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

void Function::RetireIfDrained(Garbage* garbage) {
  if (registered_ || !queue_.empty() || inflight_ > 0 || current_->starting > 0) return;
  if (current_->retired) return;  // already done
  current_->retired = true;
  retired_.push_back(std::move(current_));
  // A placeholder that never loads: callers are refused before they could start a load.
  current_ = std::make_unique<Version>(host_, spec_, spec_.module_path, false);
  current_->retired = true;
  CollectRetired(garbage);
}

void Function::Destroy(Garbage& garbage) {
  // Instances first: a version's state must outlive them.
  for (auto& [version, handle] : garbage.instances) {
    version->DestroyInstance(handle);
    ReportPoolEvent(version->module_version(), PoolEventKind::kEviction, {});
  }
  Garbage more;
  if (!garbage.instances.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [version, handle] : garbage.instances) --version->destroying;
    // A retired version whose last instances these were can go now.
    CollectRetired(&more);
  }
  for (std::unique_ptr<Version>& version : garbage.versions) {
    if (!version->loaded()) continue;
    const std::string module_version = version->module_version();
    UnloadResult result = version->Unload();
    ReportPoolEvent(module_version,
                    result == UnloadResult::kUnloaded ? PoolEventKind::kUnload
                                                      : PoolEventKind::kUnloadFailed,
                    {});
  }
  if (!more.instances.empty() || !more.versions.empty()) Destroy(more);
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
    if (TotalInstances(*version) >= target) return absl::OkStatus();
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

absl::Status Function::Reload(const std::string& module_path) {
  auto next = std::make_unique<Version>(host_, spec_, module_path, /*private_copy=*/true);
  Version* version = next.get();
  // Load and warm the new version off to the side: callers keep using the current one.
  ColdStartEvent event;
  event.prewarm = true;
  const absl::Time start = host_.clock->Now();
  absl::Status status = version->Load(&event);
  fnhost_module_instance* handle = nullptr;
  if (status.ok()) {
    absl::Time before = host_.clock->Now();
    absl::StatusOr<fnhost_module_instance*> created = version->NewInstance();
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
  if (!status.ok()) return status;  // `next` unloads itself; the current version serves on

  Garbage garbage;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!registered_) {
      version->DestroyInstance(handle);
      return absl::NotFoundError(
          absl::StrCat("function '", spec_.name, "' was unregistered during the reload"));
    }
    auto owned = std::make_unique<Instance>();
    owned->handle = handle;
    owned->idle_since = CoarseNow();
    for (int i = 0; i < version->concurrency(); ++i) version->free_slots.push_back(owned.get());
    version->instances.push_back(std::move(owned));
    version->load_state = Version::LoadState::kReady;
    version->load_attempts = 1;
    current_->retired = true;
    retired_.push_back(std::move(current_));
    current_ = std::move(next);
    CollectRetired(&garbage);
    cv_.notify_all();
  }
  ReportPoolEvent(version->module_version(), PoolEventKind::kReload, {});
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
    Version* version = current_.get();
    std::vector<Instance*> idle;
    for (const auto& instance : version->instances) {
      if (instance->inflight == 0) idle.push_back(instance.get());
    }
    std::sort(idle.begin(), idle.end(),
              [](const Instance* a, const Instance* b) { return a->idle_since < b->idle_since; });
    std::vector<absl::Time> idle_since;
    idle_since.reserve(idle.size());
    for (const Instance* instance : idle) idle_since.push_back(instance->idle_since);
    const int busy = static_cast<int>(version->instances.size()) - static_cast<int>(idle.size());
    KeepAliveController::Decision decision = keep_alive_.Decide(
        now, wall_now, idle_since, busy, version->loaded(), spec_.pool.min_instances,
        spec_.pool.max_instances);

    const int evict = std::min<int>(decision.evict, static_cast<int>(idle.size()));
    for (int i = 0; i < evict; ++i) RemoveIdleInstance(version, idle[i], &garbage);
    if (decision.unload && version->loaded() && version->instances.empty() &&
        version->starting == 0 && version->inflight == 0 && queue_.empty() &&
        version->destroying == evict && version->pins == 0) {
      // Scale to zero: a fresh, unloaded version takes its place; the next call loads again.
      auto fresh = std::make_unique<Version>(host_, spec_, version->module_path(),
                                             /*private_copy=*/version->module_path() !=
                                                 spec_.module_path);
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
  status.module_version = current_->module_version();
  status.loaded = current_->loaded();
  status.idle_instances = current_->idle_instances();
  status.busy_instances = current_->busy_instances();
  status.queued_calls = static_cast<int>(queue_.size());
  return status;
}

void Function::PublishGauges() {
  if (host_.sink == nullptr) return;
  PoolGauges gauges;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gauges.idle_instances = current_->idle_instances();
    gauges.busy_instances = current_->busy_instances();
    gauges.starting_instances = current_->starting;
    gauges.queued_calls = static_cast<int64_t>(queue_.size());
    gauges.loaded = current_->loaded();
  }
  gauges.function = spec_.name;
  host_.sink->OnPoolGauges(gauges);
}

void Function::Shutdown() {
  Garbage garbage;
  {
    std::unique_lock<std::mutex> lock(mu_);
    registered_ = false;
    while (inflight_ > 0 || !queue_.empty() || current_->starting > 0) {
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
