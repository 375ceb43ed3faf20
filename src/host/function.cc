#include "src/host/function.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

#include "src/common/function_error.h"
#include "src/host/async_call.h"
#include "src/host/router.h"

namespace fnhost::internal {

Function::Function(const HostContext& host, FunctionSpec spec)
    : host_(host),
      spec_(std::move(spec)),
      pool_(host_, spec_, this),
      recorder_(host_.sink != nullptr ? host_.sink->NewInvocationRecorder(spec_.name) : nullptr),
      wants_spans_(host_.sink != nullptr && host_.sink->WantsSpans()) {}

Function::~Function() {
  Shutdown();
  if (host_.budget != nullptr) host_.budget->Remove(this);
}

// ---- The call path ------------------------------------------------------------------------

absl::Status Function::Invoke(std::string_view request, std::string* response,
                              const CallOptions& options) {
  if (options.cancellation != nullptr || options.deadline != absl::InfiniteFuture())
      [[unlikely]] {
    return InvokeAndWait(request, response, options);
  }
  const int64_t begin = host_.sink != nullptr ? host_.clock->Ticks() : 0;
  CallContext* context = options.context;
  if (context != nullptr) [[unlikely]] {
    if (absl::Status status = BeginCallContext(spec_.name, *context); !status.ok()) {
      return status;
    }
  }
  const absl::Time span_start = wants_spans_ ? host_.clock->WallNow() : absl::InfinitePast();
  Pool::Lease lease;
  if (pool_.TryAcquireFast(&lease)) [[likely]] {
    absl::Status status = RunCall(lease, request, response, context, nullptr, span_start, begin);
    if (!pool_.TryReleaseFast(lease)) [[unlikely]] ReleaseLease(lease);
    return status;
  }
  Pool::Start start;
  Pool::Garbage garbage;
  std::optional<ColdStartEvent> cold;  // the cold start this call waited for, for its span
  absl::Status status = pool_.Acquire(options, &lease, &start, &garbage);
  if (start.version != nullptr || !garbage.empty()) [[unlikely]] {
    if (wants_spans_) cold.emplace();
    status = FinishAcquire(status, start, garbage, &lease, cold ? &*cold : nullptr);
  }
  if (!status.ok()) {
    ReportFailure(status, begin);
    return status;
  }
  status = RunCall(lease, request, response, context, lease.cold && cold ? &*cold : nullptr,
                   span_start, begin);
  pool_.Release(lease, &garbage);
  if (!garbage.empty()) Destroy(garbage);
  return status;
}

absl::Status Function::RunCall(const Pool::Lease& lease, std::string_view request,
                               std::string* response, CallContext* context,
                               const ColdStartEvent* cold, absl::Time span_start,
                               int64_t begin) {
  Version* version = lease.version;
  absl::Status status;
  if (!NeedsRecord(*version, context)) [[likely]] {
    status = version->Invoke(lease.instance->handle, request, response, nullptr);
  } else {
    CallRecord record;
    // A call on this path has no deadline: one with a deadline goes through an AsyncCall.
    status = record.Begin(RecordSetup(*version, context, absl::InfiniteFuture()));
    if (status.ok()) status = version->Invoke(lease.instance->handle, request, response, &record);
    ReportSpans(record, *version, cold, span_start, status,
                context != nullptr ? context->trigger : "other", begin);
  }
  ReportCall(lease, begin, status.code());
  return status;
}

void Function::InvokeAsync(std::string_view request, std::string* response,
                           InvokeCallback done, const CallOptions& options) {
  const int64_t begin = host_.sink != nullptr ? host_.clock->Ticks() : 0;
  Pool::Lease lease;
  // A call that can be cancelled needs the token's hook and the timer of an AsyncCall, so that
  // the module sees its cancelled flag: it never runs inline.
  if (options.allow_inline && options.cancellation == nullptr &&
      options.deadline == absl::InfiniteFuture() &&
      (pool_.TryAcquireFast(&lease) || pool_.TryAcquireInline(&lease))) [[likely]] {
    CallContext* context = options.context;
    const absl::Time span_start = wants_spans_ ? host_.clock->WallNow() : absl::InfinitePast();
    absl::Status status =
        context != nullptr ? BeginCallContext(spec_.name, *context) : absl::OkStatus();
    if (status.ok()) {
      status = RunCall(lease, request, response, context, nullptr, span_start, begin);
    }
    if (!lease.fast || !pool_.TryReleaseFast(lease)) ReleaseLease(lease);
    done(std::move(status), response);
    return;
  }
  AsyncCall::Start(shared_from_this(), request, response, std::move(done), options, begin);
}

namespace {

// Runs completions on the thread that posts them: for a caller that waits for them itself.
class InlineExecutor final : public Executor {
 public:
  void Post(absl::AnyInvocable<void()> task) override { task(); }
};

}  // namespace

absl::Status Function::InvokeAndWait(std::string_view request, std::string* response,
                                     const CallOptions& options) {
  static InlineExecutor inline_executor;
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::Status status;
  } outcome;
  CallOptions waited = options;
  waited.executor = &inline_executor;
  InvokeAsync(request, response, [&outcome](absl::Status status, std::string*) {
    std::lock_guard<std::mutex> lock(outcome.mu);
    outcome.status = std::move(status);
    outcome.done = true;
    outcome.cv.notify_all();
  }, waited);
  std::unique_lock<std::mutex> lock(outcome.mu);
  outcome.cv.wait(lock, [&outcome] { return outcome.done; });
  return outcome.status;
}

void Function::ReleaseLease(const Pool::Lease& lease) {
  Pool::Garbage garbage;
  pool_.Release(lease, &garbage);
  if (!garbage.empty()) Destroy(garbage);
}

void Function::ReportCall(const Pool::Lease& lease, int64_t begin, absl::StatusCode code) {
  if (host_.sink == nullptr) return;
  ReportInvocation(InvocationEvent{spec_.name, lease.version->module_version(),
                                   host_.clock->TicksToDuration(host_.clock->Ticks() - begin),
                                   lease.cold, code});
}

void Function::ReportFailure(const absl::Status& status, int64_t begin) {
  ReportRejection(status);
  if (host_.sink == nullptr) return;
  ReportInvocation(InvocationEvent{spec_.name, {},
                                   host_.clock->TicksToDuration(host_.clock->Ticks() - begin),
                                   false, status.code()});
}

absl::Status Function::FinishAcquire(const absl::Status& acquired, const Pool::Start& start,
                                     Pool::Garbage& garbage, Pool::Lease* lease,
                                     ColdStartEvent* event) {
  if (!garbage.empty()) {
    Destroy(garbage);  // instances evicted to make room for this call's
    garbage = Pool::Garbage();
  }
  if (!acquired.ok() || start.version == nullptr) return acquired;
  return StartInstance(start, lease, /*prewarm=*/false, event);
}

absl::Status Function::StartInstance(const Pool::Start& start, Pool::Lease* lease,
                                     bool prewarm, ColdStartEvent* out) {
  ColdStartEvent local;
  ColdStartEvent& event = out != nullptr ? *out : local;
  event.prewarm = prewarm;
  event.state_source = StateSource::kShared;
  absl::StatusOr<BackendInstance*> created = ColdStart(start.version, start.load, &event);
  const absl::Status status = created.status();
  BackendInstance* handle = created.value_or(nullptr);

  Pool::Garbage garbage;
  std::string module_version;
  Version* snapshot = pool_.FinishStart(start, status, handle, lease, &garbage, &module_version);
  if (!status.ok()) FreeMemory(1);  // memory budget: the instance charged was not created
  Destroy(garbage);
  if (snapshot != nullptr) ScheduleSnapshot(snapshot);
  ReportColdStart(event, module_version);
  if (prewarm && status.ok()) ReportPoolEvent(module_version, PoolEventKind::kPrewarm, {});
  return status;
}

absl::StatusOr<BackendInstance*> Function::ColdStart(Version* version, bool load,
                                                     ColdStartEvent* event) {
  const absl::Time begin = host_.clock->Now();
  absl::StatusOr<BackendInstance*> created = nullptr;
  if (load) {
    if (absl::Status loaded = version->Load(event); !loaded.ok()) created = loaded;
  }
  if (created.ok()) {
    const absl::Time before = host_.clock->Now();
    created = version->NewInstance();
    event->instance_create = host_.clock->Now() - before;
  }
  event->total = host_.clock->Now() - begin;
  event->outcome = created.status().code();
  return created;
}

void Function::ReportColdStart(ColdStartEvent& event, std::string_view module_version) {
  if (host_.sink == nullptr) return;
  event.function = spec_.name;
  event.module_version = module_version;
  host_.sink->OnColdStart(event);
}

bool Function::NeedsRecord(const Version& version, const CallContext* context) const {
  return context != nullptr || version.takes_context() || wants_spans_;
}

CallRecord::Setup Function::RecordSetup(const Version& version, CallContext* context,
                                        absl::Time deadline) const {
  return CallRecord::Setup{.services = &version.services(),
                           .context = context,
                           .clock = host_.clock,
                           .deadline = deadline,
                           .trace = wants_spans_};
}

void Function::ReportSpans(const CallRecord& record, const Version& version,
                           const ColdStartEvent* cold, absl::Time start, const absl::Status& status,
                           std::string_view trigger, int64_t begin) {
  if (!wants_spans_ || !record.has_trace()) return;  // no record made: the call failed first
  const absl::Duration duration = host_.clock->TicksToDuration(host_.clock->Ticks() - begin);
  const TraceIds& ids = record.trace();
  const std::string name = absl::StrCat("invoke ", spec_.name);
  SpanEvent span{.name = name,
                 .trace_id = ids.trace(),
                 .span_id = ids.span(),
                 .parent_span_id = ids.parent(),
                 .start = start,
                 .duration = duration,
                 .outcome = status.code(),
                 .function = spec_.name,
                 .module_version = version.module_version(),
                 .invocation_id = record.call_id(),
                 .coldstart = cold != nullptr,
                 .trigger = trigger};
  host_.sink->OnSpan(span);
  if (cold == nullptr) return;
  // The phases of the cold start the call waited for, one after the other from its start.
  const std::pair<std::string_view, absl::Duration> phases[] = {
      {"coldstart file_checks", cold->file_checks}, {"coldstart dlopen", cold->dlopen},
      {"coldstart abi_check", cold->abi_check},     {"coldstart state_init", cold->state_init},
      {"coldstart zygote_start", cold->zygote_start},
      {"coldstart instance_create", cold->instance_create}};
  char span_id[16];
  span.parent_span_id = ids.span();
  for (const auto& [phase, length] : phases) {
    if (length <= absl::ZeroDuration()) continue;
    NewSpanId(span_id);
    span.name = phase;
    span.span_id = std::string_view(span_id, sizeof(span_id));
    span.duration = length;
    host_.sink->OnSpan(span);
    span.start += length;
  }
}

void Function::ReportRejection(const absl::Status& status) {
  std::string reason = RejectionReason(status);
  if (reason.empty() && absl::IsNotFound(status)) reason = "unregistered";
  // Anything else is a failed load: counted as an error, not a rejection.
  if (!reason.empty()) ReportPoolEvent({}, PoolEventKind::kRejected, reason);
}

void Function::ReportInvocation(const InvocationEvent& event) {
  if (recorder_ != nullptr) {
    recorder_->Record(event);
  } else {
    host_.sink->OnInvocation(event);
  }
}

// ---- Prewarm, reload and the traffic split ------------------------------------------------

absl::Status Function::Prewarm(int instances, bool report_as_prewarm, bool make_room) {
  const int target = std::min(instances, spec_.pool.max_instances);
  for (int room_tries = 0;;) {
    Pool::Start start;
    if (absl::Status status = pool_.NextPrewarm(target, &start); !status.ok()) return status;
    if (start.needs_room) {  // memory budget
      if (absl::Status room = MakeRoomForPrewarm(make_room, ++room_tries); !room.ok()) {
        return room;
      }
      continue;
    }
    if (start.version == nullptr) return absl::OkStatus();
    if (absl::Status status = StartInstance(start, nullptr, report_as_prewarm); !status.ok()) {
      return status;
    }
  }
}

absl::StatusOr<Function::Staged> Function::Stage(const std::string& module_path, int instances,
                                                 const ReloadSource& source) {
  Staged staged{std::make_unique<Version>(host_, spec_, module_path), {}};
  Version* version = staged.version.get();
  // Memory budget: the first instance may evict idle ones, the others only use spare room.
  if (absl::Status room = ChargeStagedInstance(/*make_room=*/true); !room.ok()) return room;
  if (source.fd.valid()) version->SetReloadSource(source.fd.get(), source.schema);
  // Load and warm the new version off to the side: callers keep using the current ones.
  ColdStartEvent event;
  event.prewarm = true;
  absl::StatusOr<BackendInstance*> created = ColdStart(version, /*load=*/true, &event);
  ReportColdStart(event, version->module_version());
  if (created.ok()) staged.instances.push_back(*created);
  const absl::Status status = created.status();
  if (!status.ok()) {
    FreeMemory(1);
    return status;  // the version unloads itself
  }
  for (int i = 1; i < instances; ++i) {
    if (!ChargeStagedInstance(/*make_room=*/false).ok()) break;
    absl::StatusOr<BackendInstance*> more = version->NewInstance();
    if (!more.ok()) {
      FreeMemory(1);
      break;  // callers create the rest, and see the error if it lasts
    }
    staged.instances.push_back(*more);
  }
  return staged;
}

absl::Status Function::StageAndInstall(const std::string& module_path, int instances,
                                       bool as_canary, uint32_t share,
                                       const ReloadSource& source) {
  absl::StatusOr<Staged> staged = Stage(module_path, instances, source);
  if (!staged.ok()) {
    if (!as_canary) ReportPoolEvent({}, PoolEventKind::kReloadFailed, {});
    return staged.status();  // the versions serving now serve on
  }
  const std::string module_version = staged->version->module_version();
  const std::string_view path = staged->version->kept_state() ? "kept_state" : "init";
  Pool::Garbage garbage;
  absl::StatusOr<Version*> installed =
      pool_.Install(std::move(staged->version), staged->instances, as_canary, share, &garbage);
  if (installed.ok() && !as_canary) ReportPoolEvent(module_version, PoolEventKind::kReload, path);
  Destroy(garbage);
  if (installed.ok() && *installed != nullptr) ScheduleSnapshot(*installed);
  return installed.status();
}

absl::Status Function::Reload(const std::string& module_path) {
  // As many instances as the version it replaces has: callers find the new version warm, and
  // the instances' allocations are made here rather than spread over the callers' threads.
  const int instances = std::max(1, pool_.StableInstances());
  absl::StatusOr<ReloadSource> source = TakeStateForReload();
  if (!source.ok()) {
    ReportPoolEvent({}, PoolEventKind::kReloadFailed, {});
    return source.status();
  }
  return StageAndInstall(module_path, instances, /*as_canary=*/false, 0, *source);
}

absl::StatusOr<Function::ReloadSource> Function::TakeStateForReload() {
  Pool::Lease lease;
  Version* stable = pool_.HoldStable(&lease);
  if (stable == nullptr) return ReloadSource{};  // not loaded: there is no live state
  ReloadSource source;
  absl::Status status;
  if (const uint32_t schema = stable->state_schema(); schema != 0) {
    absl::StatusOr<int> fd =
        stable->SnapshotForReload(lease.instance != nullptr ? lease.instance->handle : nullptr);
    if (fd.ok()) {
      source = ReloadSource{UniqueFd(*fd), schema};
    } else {
      status = absl::Status(fd.status().code(),
                            FunctionMessage(spec_.name, "reload: the state of version ",
                                            stable->module_version(), " could not be taken: ",
                                            fd.status().message()));
    }
  }
  Pool::Garbage garbage;
  pool_.ReleaseHold(stable, lease, &garbage);
  Destroy(garbage);
  if (!status.ok()) return status;
  return source;
}

absl::Status Function::SetCanary(const std::string& module_path, double share) {
  absl::StatusOr<uint32_t> millionths = CanaryRouter::ShareInMillionths(spec_.name, share);
  if (!millionths.ok()) return millionths.status();
  return StageAndInstall(module_path, 1, /*as_canary=*/true, *millionths, ReloadSource{});
}

absl::Status Function::SetCanaryShare(double share) {
  absl::StatusOr<uint32_t> millionths = CanaryRouter::ShareInMillionths(spec_.name, share);
  if (!millionths.ok()) return millionths.status();
  return pool_.SetCanaryShare(*millionths);
}

absl::Status Function::PromoteCanary() {
  Pool::Garbage garbage;
  absl::StatusOr<std::string> module_version = pool_.PromoteCanary(&garbage);
  if (!module_version.ok()) return module_version.status();
  ReportPoolEvent(*module_version, PoolEventKind::kReload, {});
  Destroy(garbage);
  return absl::OkStatus();
}

absl::Status Function::ClearCanary() {
  Pool::Garbage garbage;
  pool_.ClearCanary(&garbage);
  Destroy(garbage);
  return absl::OkStatus();
}

// ---- Teardown, maintenance, reporting -----------------------------------------------------

void Function::Unregister() {
  Pool::Garbage garbage;
  pool_.Close(&garbage);
  Destroy(garbage);
}

void Function::Shutdown() {
  Pool::Garbage garbage;
  pool_.CloseAndDrain(&garbage);
  Destroy(garbage);
}

void Function::Destroy(Pool::Garbage& garbage) {
  int uncharged = 0;  // memory budget: instances whose charge goes now
  for (const Pool::Garbage::Dead& dead : garbage.instances) {
    dead.version->DestroyInstance(dead.handle);
    uncharged += !dead.charge_passed;
    if (dead.evicted) {
      ReportPoolEvent(dead.version->module_version(),
                      dead.by_budget ? PoolEventKind::kBudgetEviction : PoolEventKind::kEviction,
                      {});
    }
  }
  if (uncharged > 0) FreeMemory(uncharged);
  Pool::Garbage more;
  if (!garbage.instances.empty()) pool_.InstancesDestroyed(garbage, &more);
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
  for (Pool::AsyncWaiter* waiter = garbage.TakeGranted(); waiter != nullptr;) {
    Pool::AsyncWaiter* next = waiter->next_granted();  // OnGranted may end the call
    waiter->OnGranted();
    waiter = next;
  }
}

void Function::ScheduleSnapshot(Version* version) {
  host_.run_in_background(
      [self = shared_from_this(), version] {
        version->WriteSnapshot().IgnoreError();  // reported through the metrics hook
        Pool::Garbage garbage;
        self->pool_.Unpin(version, &garbage);
        self->Destroy(garbage);
      },
      /*finish_at_shutdown=*/true);
}

void Function::Maintain(absl::Time now, absl::Time wall_now) {
  Pool::Garbage garbage;
  const int prewarm = pool_.ApplyKeepAlive(now, wall_now, &garbage);
  Destroy(garbage);
  if (prewarm > 0) {
    // A failing prewarm shows in the cold-start metrics.
    Prewarm(pool_.StableInstances() + prewarm, /*report_as_prewarm=*/true, /*make_room=*/false)
        .IgnoreError();
  }
}

void Function::PublishGauges() {
  if (host_.sink == nullptr) return;
  host_.sink->OnPoolGauges(pool_.Gauges());
}

void Function::ReportPoolEvent(std::string_view module_version, PoolEventKind kind,
                               std::string_view reason) {
  if (host_.sink == nullptr) return;
  host_.sink->OnPoolEvent(PoolEvent{spec_.name, module_version, kind, reason});
}

}  // namespace fnhost::internal
