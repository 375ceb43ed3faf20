#include "src/isolation/worker.h"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "fnhost/sandbox_options.h"
#include "src/common/function_error.h"
#include "src/common/unique_fd.h"
#include "src/isolation/call_frames.h"
#include "src/isolation/control_frames.h"
#include "src/isolation/worker_frames.h"
#include "src/isolation/zygote_process.h"
#include "src/isolation/zygote_shared.h"

namespace fnhost {

using internal::BellWait;
using internal::FrameHeader;
using internal::FrameType;
using internal::MutexLock;
using internal::WorkerLoss;

Worker::Worker(std::shared_ptr<internal::ZygoteShared> shared,
               std::shared_ptr<internal::ZygoteProcess> process, pid_t pid, int fd,
               int denials_fd)
    : shared_(std::move(shared)),
      process_(std::move(process)),
      pid_(pid),
      max_message_bytes_(shared_->options().config.worker().max_message_bytes()),
      fd_(fd),
      spin_(absl::Nanoseconds(shared_->options().config.worker().spin_budget_nanos())),
      denials_fd_(denials_fd) {
  const absl::Duration cpu_limit = shared_->options().cpu_time_limit;
  if (cpu_limit > absl::ZeroDuration()) {
    // Unreadable: ResolveSandbox logged why (the probe's process CPU clock); the metric shows
    // cpu_time "none".
    absl::StatusOr<internal::CpuBudget> budget = internal::CpuBudget::ForProcess(pid, cpu_limit);
    if (budget.ok()) cpu_budget_.emplace(*std::move(budget));
    cpu_limited_ = budget.ok();
  }
}

Worker::~Worker() {
  MutexLock lock(mu_);
  Release();
  if (denials_fd_ >= 0) ::close(denials_fd_);
}

std::vector<sandbox::DenialCount> Worker::TakeNewDenials() {
  MutexLock lock(mu_);
  return sandbox_.TakeNewDenials();
}

void Worker::Release() {
  MarkLost();
  internal::UnmapDoorbell(bell_);
  bell_ = nullptr;
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  process_->Forget(pid_);
}

absl::Time Worker::Deadline() const {
  const absl::Duration timeout = shared_->options().invoke_timeout;
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                             : Clock::Real()->Now() + timeout;
}

internal::WorkerLossReason Worker::loss() const {
  MutexLock lock(mu_);
  return loss_;
}

absl::Status Worker::Invoke(std::string_view request, std::string* response,
                            internal::CallRecord* record) {
  MutexLock lock(mu_);
  if (absl::Status prepared = PrepareCall(request, record); !prepared.ok()) return prepared;
  const absl::Time deadline = Deadline();
  // Read before the request leaves, so that the worker's ring cannot come before it.
  BellWait wait{bell_ != nullptr ? &bell_->response : nullptr,
                bell_ != nullptr ? bell_->response.load(std::memory_order_acquire) : 0, &spin_};
  // The page's flag is the call's from now on: 0, or 1 if it was cancelled already.
  if (record != nullptr && bell_ != nullptr) record->AttachRemoteFlag(&bell_->cancelled);
  FrameHeader header;
  if (cpu_budget_.has_value()) cpu_budget_->Start();
  absl::Status io = SendRequest(context_, request, deadline);
  if (io.ok()) {
    io = ReceiveResponse(deadline, bell_ != nullptr ? &wait : nullptr, record, &header, response);
  }
  if (record != nullptr && bell_ != nullptr) record->DetachRemoteFlag();
  if (!io.ok()) {
    response->clear();
    return Lost(io, "invoke");
  }
  return Finish(header, response);
}

absl::Status Worker::PrepareCall(std::string_view request, internal::CallRecord* record) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        FunctionMessage(shared_->function(), "worker ", pid_, " is gone; spawn another"));
  }
  context_.clear();
  if (record != nullptr) internal::EncodeRequestContext(*record, &context_);
  if (request.size() + context_.size() <= max_message_bytes_) return absl::OkStatus();
  return absl::InvalidArgumentError(FunctionMessage(
      shared_->function(), "request of ", request.size() + context_.size(), " bytes",
      context_.empty()
          ? ""
          : absl::StrCat(" (", context_.size(), " of them its metadata and trace context)"),
      " is above max_message_bytes ", max_message_bytes_));
}

absl::Status Worker::SendRequest(std::string_view context, std::string_view request,
                                 absl::Time deadline) {
  absl::Status sent =
      context.empty()
          ? internal::SendFrame(fd_, FrameType::kRequest, 0, 0, request, deadline)
          : internal::SendFrame2(fd_, FrameType::kRequest, static_cast<int32_t>(context.size()),
                                 internal::kFlagContext, context, request, deadline);
  if (sent.ok() && bell_ != nullptr) bell_->request.fetch_add(1, std::memory_order_release);
  return sent;
}

absl::Status Worker::ReceiveResponse(absl::Time deadline, BellWait* wait,
                                     internal::CallRecord* record, FrameHeader* header,
                                     std::string* response) {
  for (;;) {
    absl::Status io;
    const BellWait* spin = wait;
    if (cpu_budget_.has_value() && ahead_.empty()) {
      io = AwaitWithinCpuBudget(deadline, wait);
      spin = nullptr;  // the frame is there: nothing left to spin for
    }
    if (io.ok()) {
      io = internal::RecvCallFrame(fd_, max_message_bytes_, deadline, header, response, spin,
                                   &ahead_);
    }
    if (!io.ok()) return io;
    if (wait != nullptr) ++wait->before;  // the worker rings once per frame it sends
    if (header->type == FrameType::kResponse) break;
    // The module's host calls and log lines, while the call runs.
    if (io = HandleCallFrame(*header, *response, record, deadline); !io.ok()) return io;
  }
  if (!ahead_.empty()) {
    // The worker sends nothing after its response until the next request.
    const size_t stray = std::exchange(ahead_, std::string()).size();
    return absl::DataLossError(absl::StrCat(stray, " stray bytes after a frame"));
  }
  if (header->code < 0 ||
      header->code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::DataLossError(absl::StrCat("response with status code ", header->code));
  }
  return TakeMetadata(*header, response, record);
}

absl::Status Worker::HandleCallFrame(const FrameHeader& header, std::string_view payload,
                                     const internal::CallRecord* record, absl::Time deadline) {
  return internal::HandleWorkerFrame(
      fd_, header, payload, record != nullptr ? &record->services() : shared_->options().services,
      record != nullptr ? record->call_id() : std::string_view(), deadline, max_message_bytes_,
      &scratch_, bell_ != nullptr ? &bell_->request : nullptr);
}

absl::Status Worker::TakeMetadata(const FrameHeader& header, std::string* response,
                                  internal::CallRecord* record) {
  if ((header.flags & internal::kFlagContext) == 0) return absl::OkStatus();
  if (record == nullptr) return absl::DataLossError("response metadata for a call without any");
  return internal::TakeResponseMetadata(response, *record);
}

absl::StatusOr<int> Worker::SnapshotState() {
  MutexLock lock(mu_);
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        FunctionMessage(shared_->function(), "worker ", pid_, " is gone; spawn another"));
  }
  const absl::Time deadline = Deadline();
  FrameHeader header;
  std::string payload;
  int passed_fd = -1;
  absl::Status io = internal::SendFrame(fd_, FrameType::kSnapshotState, 0, 0, {}, deadline);
  if (io.ok() && bell_ != nullptr) bell_->request.fetch_add(1, std::memory_order_release);
  if (io.ok()) {
    io = internal::RecvFrame(fd_, internal::kMaxControlBytes, deadline, &header, &payload,
                             &passed_fd);
  }
  internal::UniqueFd snapshot(passed_fd);
  if (io.ok() && header.type == FrameType::kStateSnapshot && snapshot.valid()) {
    return snapshot.release();
  }
  if (io.ok() && header.type == FrameType::kError) return internal::ErrorFrameStatus(payload);
  if (io.ok()) io = absl::DataLossError("unexpected answer to a state snapshot request");
  return Lost(io, "a state snapshot for a reload");
}

absl::Status Worker::AwaitWithinCpuBudget(absl::Time deadline, const BellWait* wait) {
  const absl::Time start = Clock::Real()->Now();
  for (absl::Time now = start;; now = Clock::Real()->Now()) {
    const absl::Time until = std::min(deadline, now + cpu_budget_->NextCheck());
    // Spin (if at all) on the first wait only: the later ones come a millisecond or more on.
    absl::Status ready = internal::AwaitCallFrame(fd_, until, now == start ? wait : nullptr);
    if (ready.ok() && wait != nullptr) wait->policy->Record(Clock::Real()->Now() - start);
    if (!absl::IsDeadlineExceeded(ready) || until >= deadline) return ready;
    if (absl::Status within = cpu_budget_->Check(); !within.ok()) return within;
  }
}

absl::Status Worker::Finish(const FrameHeader& header, std::string* response) {
  if (header.code == 0) return absl::OkStatus();
  absl::Status status(static_cast<absl::StatusCode>(header.code), *response);
  response->clear();
  if ((header.flags & internal::kFlagWorkerExits) != 0) {
    status.SetPayload(kSandboxLimitPayloadUrl, absl::Cord("memory"));
    Release();
    loss_ = {WorkerLoss::kMemoryLimit};
    shared_->RecordCrash(/*timeout=*/false);
  }
  return status;
}

absl::Status Worker::AwaitReady() {
  MutexLock lock(mu_);
  FrameHeader header;
  std::string payload;
  internal::UniqueFd denials(std::exchange(denials_fd_, -1));
  int bell_fd = -1;  // the worker's doorbell comes with its ready frame, if at all
  // A worker that runs the module's init has no deadline for it, as a zygote's init has none.
  const absl::Time deadline =
      process_->workers_run_init() ? absl::InfiniteFuture() : Deadline();
  absl::Status io;
  for (;;) {
    io = internal::RecvFrame(fd_, std::max(internal::kMaxControlBytes, max_message_bytes_),
                             deadline, &header, &payload, &bell_fd);
    if (!io.ok() || !internal::IsHostServiceFrame(header.type)) break;
    // A worker that builds its own state may call host services and log on its way.
    internal::UniqueFd stray(std::exchange(bell_fd, -1));
    io = internal::HandleWorkerFrame(fd_, header, payload, shared_->options().services, {},
                                     deadline, max_message_bytes_, &scratch_, nullptr);
    if (!io.ok()) break;
  }
  internal::UniqueFd bell_memfd(bell_fd);
  if (io.ok() && header.type == FrameType::kWorkerReady && bell_memfd.valid()) {
    absl::StatusOr<internal::Doorbell*> bell = internal::MapPeerDoorbell(bell_memfd.get());
    if (!bell.ok()) return Lost(bell.status(), "startup");
    bell_ = *bell;
  }
  if (io.ok() && header.type == FrameType::kWorkerReady) {
    absl::Status sandbox = sandbox_.Start(denials.release(), payload);
    if (!sandbox.ok()) return Lost(sandbox, "startup");
  }
  if (io.ok() && header.type == FrameType::kWorkerReady) return absl::OkStatus();
  if (io.ok() && header.type == FrameType::kError) {
    // The module's post-fork hook or instance creation failed: its error, not a crash.
    Release();
    return internal::ErrorFrameStatus(payload);
  }
  if (io.ok()) io = absl::DataLossError("unexpected first frame");
  return Lost(io, "startup");
}

absl::Status Worker::Lost(const absl::Status& cause, std::string_view during) {
  // Killing first makes the end certain (a worker that merely closed its channel would live
  // on); the zygote's report then says whether the worker was already dying of something else.
  process_->Kill(pid_);
  const std::optional<internal::WorkerExit> exit = process_->AwaitExit(pid_);
  Release();
  loss_ = internal::ClassifyLoss(cause, exit);
  shared_->RecordCrash(loss_.loss == WorkerLoss::kTimeout);

  const std::string worker = FunctionMessage(shared_->function(), "worker ", pid_);
  switch (loss_.loss) {
    case WorkerLoss::kTimeout:
      return absl::DeadlineExceededError(FunctionMessage(
          shared_->function(), during, " did not finish within ",
          absl::FormatDuration(shared_->options().invoke_timeout), "; worker ", pid_,
          " killed"));
    case WorkerLoss::kProtocol:
      return absl::UnavailableError(absl::StrCat(worker, " broke the channel protocol during ",
                                                 AsAbsl(during), " (", cause.message(),
                                                 "); worker killed"));
    case WorkerLoss::kZygote:
      return absl::UnavailableError(absl::StrCat(worker, " lost during ", AsAbsl(during), ": ",
                                                 process_->GoneReason()));
    case WorkerLoss::kChannel:
      return absl::UnavailableError(absl::StrCat(worker, " closed its channel during ",
                                                 AsAbsl(during), "; worker ended"));
    case WorkerLoss::kCpuTime:
    case WorkerLoss::kMemoryLimit:
      return SandboxLimitError(cause, during);
    default:
      return absl::UnavailableError(absl::StrCat(
          worker, " ", internal::DescribeWaitStatus(exit->wait_status), " during ",
          AsAbsl(during), internal::SandboxTrapHint(exit->wait_status)));
  }
}

absl::Status Worker::SandboxLimitError(const absl::Status& cause, std::string_view during) const {
  absl::Status status;
  if (loss_.loss == WorkerLoss::kCpuTime) {
    status = absl::DeadlineExceededError(FunctionMessage(
        shared_->function(), during, ": ", cause.message(), "; worker ", pid_, " killed"));
    status.SetPayload(kSandboxLimitPayloadUrl, absl::Cord("cpu_time"));
    return status;
  }
  status = absl::ResourceExhaustedError(FunctionMessage(
      shared_->function(), "worker ", pid_, " reached its memory limit of ",
      shared_->options().config.sandbox().memory_limit_bytes(), " bytes during ", during,
      " and its memory cgroup's OOM killer ended it"));
  status.SetPayload(kSandboxLimitPayloadUrl, absl::Cord("memory"));
  return status;
}

}  // namespace fnhost
