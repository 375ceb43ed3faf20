#include "src/isolation/zygote_worker.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "src/common/function_error.h"
#include "src/common/strings.h"
#include "src/isolation/call_frames.h"
#include "src/isolation/control_frames.h"
#include "src/isolation/worker_limits.h"
#include "src/runtime/abi_glue.h"

namespace fnhost::internal {
namespace {

const absl::Time kNoDeadline = absl::InfiniteFuture();

// Leaves the zygote behind: dies with it, has a process group of its own (so that the zygote
// can kill whatever the worker forks), keeps only its channel of the zygote's descriptors (what
// the module opened during init stays): `zygote_fds`, and every one from `descriptor_floor` up
// where that is not 0. Then unblocks the signals the zygote blocked.
void LeaveZygote(pid_t zygote, int channel, std::initializer_list<int> zygote_fds,
                 int descriptor_floor) {
  // The check after the prctl catches a zygote that died before the signal was armed.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote) ::_exit(1);
  ::setpgid(0, 0);
  if (::dup2(channel, kChildChannelFd) < 0) ::_exit(kExitChannelBroken);
  ::close(channel);
  for (int fd : zygote_fds) ::close(fd);
  if (descriptor_floor > kChildChannelFd &&
      ::close_range(static_cast<unsigned>(descriptor_floor), ~0U, 0) != 0) {
    ::_exit(1);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

void SendOrExit(int fd, FrameType type, int32_t code, uint16_t flags, std::string_view payload,
                int pass_fd) {
  if (!SendFrame(fd, type, code, flags, payload, kNoDeadline, pass_fd).ok()) {
    ::_exit(kExitChannelBroken);
  }
}

void SendControlOrExit(int fd, FrameType type, const google::protobuf::MessageLite& message,
                       int pass_fd) {
  SendOrExit(fd, type, 0, 0, message.SerializeAsString(), pass_fd);
}

void SendErrorOrExit(int fd, const absl::Status& status) {
  SendControlOrExit(fd, FrameType::kError, ErrorOf(status));
}

void WorkerProcess::Run(pid_t zygote, int channel, std::initializer_list<int> zygote_fds) {
  LeaveZygote(zygote, channel, zygote_fds,
              sandbox_ != nullptr ? sandbox_->descriptor_floor() : 0);
  // The shared page carries the call's cancelled flag and the doorbells; without it (no memfd
  // here) both sides simply block, and calls cannot be cancelled. Made before the sandbox,
  // which denies memfd_create.
  int bell_fd = -1;
  Doorbell* bell = nullptr;
  // The state (a worker forked before the init runs it here, unsandboxed like any init) and
  // the limits; then the sandbox, before any more module code: the instance is made under it,
  // as calls run.
  ZygoteSandbox::ForWorker::InForce in_force;
  absl::Status status = Start();
  if (status.ok()) bell = CreateDoorbell(&bell_fd);
  if (status.ok()) status = ApplySandbox(&in_force);
  if (status.ok()) status = CreateTheInstance();
  if (!status.ok()) {
    SendErrorOrExit(kChildChannelFd, status);
    ::_exit(0);
  }
  const uint32_t before = bell != nullptr ? bell->request.load(std::memory_order_acquire) : 0;
  SendOrExit(kChildChannelFd, FrameType::kWorkerReady, 0, 0, in_force.payload(), bell_fd);
  if (bell_fd >= 0) ::close(bell_fd);
  Serve(bell, before);
}

absl::Status WorkerProcess::Start() {
  absl::StatusOr<fnhost_module_state*> state = zygote_state_.StateForWorker();
  if (!state.ok()) return state.status();
  state_ = *state;
  return ApplyWorkerLimits(limits_, function());
}

absl::Status WorkerProcess::CreateTheInstance() {
  absl::StatusOr<fnhost_module_instance*> instance =
      CreateInstance(zygote_state_.table(), state_, function());
  if (!instance.ok()) return instance.status();
  instance_ = *instance;
  return absl::OkStatus();
}

absl::Status WorkerProcess::ApplySandbox(ZygoteSandbox::ForWorker::InForce* in_force) {
  if (sandbox_ == nullptr) return absl::OkStatus();
  if (absl::Status status = sandbox_->Apply(in_force); !status.ok()) return status;
  if (in_force->address_space_limit_bytes > 0) {
    memory_limit_bytes_ = in_force->address_space_limit_bytes;
    CatchMemoryLimit();
  }
  return absl::OkStatus();
}

void WorkerProcess::Serve(Doorbell* bell, uint32_t before) {
  std::string request;
  std::string response;
  std::string message;
  // Bounded: an idle worker spins for one budget after its last response, then blocks.
  SpinPolicy spin(absl::Nanoseconds(limits_.spin_budget_nanos()));
  BellWait wait{bell != nullptr ? &bell->request : nullptr, before, &spin};
  WorkerCall call(bell, &spin, limits_.max_message_bytes());
  for (;;) {
    FrameHeader header;
    absl::Status received = RecvCallFrame(kChildChannelFd, limits_.max_message_bytes(),
                                          kNoDeadline, &header, &request,
                                          bell != nullptr ? &wait : nullptr);
    // EOF is the host letting the worker go; anything else is a broken channel.
    if (!received.ok()) ::_exit(absl::IsUnavailable(received) ? 0 : kExitChannelBroken);
    if (header.type == FrameType::kSnapshotState) {
      if (bell != nullptr) wait.before = bell->request.load(std::memory_order_acquire);
      AnswerSnapshotRequest();
      continue;
    }
    const size_t context_size =
        (header.flags & kFlagContext) != 0 ? static_cast<uint32_t>(header.code) : 0;
    if (header.type != FrameType::kRequest || context_size > request.size() ||
        !call.Begin(std::string_view(request).substr(0, context_size)).ok()) {
      ::_exit(kExitChannelBroken);
    }
    const Answer answer =
        Call(std::string_view(request).substr(context_size), call, &response, &message);
    // Read before the response leaves, so that the host's next ring cannot come before it.
    if (bell != nullptr) wait.before = bell->request.load(std::memory_order_acquire);
    SendOrExit(kChildChannelFd, FrameType::kResponse, answer.code, answer.flags, answer.payload);
    if (bell != nullptr) bell->response.fetch_add(1, std::memory_order_release);
    if ((answer.flags & kFlagWorkerExits) != 0) ::_exit(0);
  }
}

void WorkerProcess::AnswerSnapshotRequest() {
  absl::StatusOr<int> fd = zygote_state_.WriteReloadSnapshot(state_);
  if (fd.ok()) {
    SendOrExit(kChildChannelFd, FrameType::kStateSnapshot, 0, 0, {}, *fd);
    ::close(*fd);
  } else {
    SendErrorOrExit(kChildChannelFd, fd.status());
  }
}

WorkerProcess::Answer WorkerProcess::Call(std::string_view request, const WorkerCall& call,
                                          std::string* response, std::string* message) {
  response->clear();
  CallOutput output(response);
  ClearMemoryLimitHit();
  const absl::Status status =
      InvokeModule(zygote_state_.table(), instance_, request, output, function(), call.raw());
  const uint32_t max_message_bytes = limits_.max_message_bytes();
  if (status.ok() && !call.response_metadata().empty()) {
    AppendResponseMetadata(call.response_metadata(), response);
  }
  const uint16_t flags = call.response_metadata().empty() ? 0 : kFlagContext;
  if (status.ok() && response->size() <= max_message_bytes) return {0, flags, *response};
  if (status.ok()) {
    *message = FunctionMessage(function(), "response of ", response->size(),
                               " bytes is above max_message_bytes ", max_message_bytes);
    return {FNHOST_STATUS_RESOURCE_EXHAUSTED, 0, *message};
  }
  if (HitMemoryLimit()) {
    *message = FunctionMessage(
        function(), "worker ", ::getpid(), " reached its memory limit of ",
        memory_limit_bytes_, " bytes (address space beyond the zygote's) during invoke: ",
        output.error_message().empty() ? "(no message)" : output.error_message(),
        "; the worker exits");
    return {FNHOST_STATUS_RESOURCE_EXHAUSTED, kFlagWorkerExits, *message};
  }
  *message = AsStd(status.message());
  return {static_cast<int32_t>(status.code()), 0, *message};
}

}  // namespace fnhost::internal
