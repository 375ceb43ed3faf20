// Worker: a call split across threads, for the CallPoller (see worker.h).

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "src/common/function_error.h"
#include "src/isolation/worker.h"
#include "src/isolation/zygote_process.h"
#include "src/isolation/zygote_shared.h"

namespace fnhost {

using internal::FrameHeader;
using internal::FrameType;
using internal::MutexLock;
using internal::WorkerLoss;

absl::Status Worker::StartCall(std::string_view request, std::string* response) {
  MutexLock lock(mu_);
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        FunctionMessage(shared_->function(), "worker ", pid_, " is gone; spawn another"));
  }
  if (request.size() > max_message_bytes_) {
    return absl::InvalidArgumentError(
        FunctionMessage(shared_->function(), "request of ", request.size(),
                        " bytes is above max_message_bytes ", max_message_bytes_));
  }
  pending_.response = response;
  pending_.progress = internal::FrameProgress();
  pending_.deadline = Deadline();
  pending_.cpu_check = absl::InfiniteFuture();
  if (cpu_budget_.has_value()) {
    cpu_budget_->Start();
    pending_.cpu_check = Clock::Real()->Now() + cpu_budget_->NextCheck();
  }
  if (absl::Status sent = SendRequest(request, pending_.deadline); !sent.ok()) {
    response->clear();
    return Lost(sent, "invoke");
  }
  return absl::OkStatus();
}

std::optional<absl::Status> Worker::ContinueCall() {
  MutexLock lock(mu_);
  for (;;) {
    bool complete = false;
    absl::Status io = internal::ReadCallFrameSome(fd_, max_message_bytes_, &pending_.progress,
                                                  pending_.response, &complete);
    if (io.ok() && !complete) return std::nullopt;
    const FrameHeader header = pending_.progress.header;
    pending_.progress = internal::FrameProgress();
    if (io.ok() && header.type != FrameType::kResponse) {
      io = HandleCallFrame(header, *pending_.response);
      if (io.ok()) continue;  // the response is still to come
    }
    if (io.ok() && (header.code < 0 ||
                    header.code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated))) {
      io = absl::DataLossError(absl::StrCat("response with status code ", header.code));
    }
    if (!io.ok()) {
      pending_.response->clear();
      return Lost(io, "invoke");
    }
    return Finish(header, pending_.response);
  }
}

absl::Status Worker::HandleCallFrame(const FrameHeader& header, std::string_view payload) {
  return absl::DataLossError(absl::StrCat("unexpected frame type ",
                                          static_cast<int>(header.type), " during a call"));
}

absl::Status Worker::TimeOutCall() {
  return LoseCall(absl::DeadlineExceededError("timed out"));
}

absl::Status Worker::LoseCall(const absl::Status& cause) {
  MutexLock lock(mu_);
  pending_.response->clear();
  return Lost(cause, "invoke");  // classified by the cause, as in Invoke
}

absl::Status Worker::CheckCallCpuTime(absl::Time* next_check) {
  MutexLock lock(mu_);
  *next_check = absl::InfiniteFuture();
  if (!cpu_budget_.has_value() || fd_ < 0) return absl::OkStatus();
  if (absl::Status within = cpu_budget_->Check(); !within.ok()) return within;
  pending_.cpu_check = Clock::Real()->Now() + cpu_budget_->NextCheck();
  *next_check = pending_.cpu_check;
  return absl::OkStatus();
}

absl::Status Worker::KillCall(absl::Status why, WorkerLoss loss) {
  MutexLock lock(mu_);
  pending_.response->clear();
  process_->Kill(pid_);
  process_->AwaitExit(pid_);
  Release();
  loss_ = {loss};
  // A cancelled call is the caller's choice, not the module's fault.
  if (loss != WorkerLoss::kCancelled) shared_->RecordCrash(/*timeout=*/false);
  return why;
}

void Worker::DropResponse() {
  MutexLock lock(mu_);
  if (pending_.response == &pending_.dropped) return;
  // The bytes read so far are the caller's no more: the rest of the frame lands beside them.
  pending_.dropped.resize(pending_.response->size());
  pending_.response = &pending_.dropped;
}

int Worker::fd_for_poller() const {
  MutexLock lock(mu_);
  return fd_;
}

const std::string& Worker::function_name() const { return shared_->function(); }

absl::Time Worker::call_deadline() const {
  MutexLock lock(mu_);
  return pending_.deadline;
}

absl::Time Worker::cpu_check_due() const {
  MutexLock lock(mu_);
  return pending_.cpu_check;
}

}  // namespace fnhost
