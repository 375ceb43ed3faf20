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

namespace {

// The longest the poller waits to send the reply to a module's host call. The worker waits
// for it, so a worker that does not read it is broken (or hostile), and the poller serves the
// other workers' calls meanwhile.
constexpr absl::Duration kHostReplyLimit = absl::Seconds(1);

}  // namespace

absl::Status Worker::StartCall(std::string_view request, std::string* response,
                               internal::CallRecord* record) {
  MutexLock lock(mu_);
  if (absl::Status prepared = PrepareCall(request, record); !prepared.ok()) return prepared;
  pending_.response = response;
  pending_.record = record;
  pending_.drop_metadata = false;
  pending_.progress = internal::FrameProgress();
  pending_.deadline = Deadline();
  pending_.cpu_check = absl::InfiniteFuture();
  if (cpu_budget_.has_value()) {
    cpu_budget_->Start();
    pending_.cpu_check = Clock::Real()->Now() + cpu_budget_->NextCheck();
  }
  // The page's flag is the call's from now on (see Invoke).
  if (record != nullptr && bell_ != nullptr) record->AttachRemoteFlag(&bell_->cancelled);
  if (absl::Status sent = SendRequest(context_, request, pending_.deadline); !sent.ok()) {
    EndPending();
    response->clear();
    return Lost(sent, "invoke");
  }
  return absl::OkStatus();
}

void Worker::EndPending() {
  if (pending_.record != nullptr && bell_ != nullptr) pending_.record->DetachRemoteFlag();
  pending_.record = nullptr;
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
      io = HandleCallFrame(header, *pending_.response, pending_.record,
                           std::min(pending_.deadline, Clock::Real()->Now() + kHostReplyLimit));
      if (io.ok()) continue;  // the response is still to come
    }
    if (io.ok() && (header.code < 0 ||
                    header.code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated))) {
      io = absl::DataLossError(absl::StrCat("response with status code ", header.code));
    }
    // A caller that gave up may have freed its context: the metadata stays in the dropped bytes.
    if (io.ok() && !pending_.drop_metadata) {
      io = TakeMetadata(header, pending_.response, pending_.record);
    }
    EndPending();
    if (!io.ok()) {
      pending_.response->clear();
      return Lost(io, "invoke");
    }
    return Finish(header, pending_.response);
  }
}

absl::Status Worker::TimeOutCall() {
  return LoseCall(absl::DeadlineExceededError("timed out"));
}

absl::Status Worker::LoseCall(const absl::Status& cause) {
  MutexLock lock(mu_);
  EndPending();
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
  EndPending();
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
  pending_.drop_metadata = true;
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
