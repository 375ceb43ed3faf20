#include "src/isolation/zygote_worker.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"
#include "src/common/function_error.h"
#include "src/runtime/abi_glue.h"

namespace fnhost::internal {
namespace {

const absl::Time kNoDeadline = absl::InfiniteFuture();

uint64_t AddressSpaceBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  in >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

bool hit_memory_limit = false;

// Installed in workers with a memory limit: notes that the limit was reached, then fails the
// allocation as operator new would.
void OnOutOfMemory() {
  hit_memory_limit = true;
  throw std::bad_alloc();
}

}  // namespace

void SendOrExit(int fd, FrameType type, int32_t code, uint16_t flags, std::string_view payload,
                int pass_fd) {
  if (!SendFrame(fd, type, code, flags, payload, kNoDeadline, pass_fd).ok()) {
    ::_exit(kExitChannelBroken);
  }
}

void SendError(int fd, const absl::Status& status) {
  SendOrExit(fd, FrameType::kError, static_cast<int32_t>(status.code()), 0,
             AsStd(status.message()));
}

void WorkerProcess::Run(pid_t zygote, int channel, std::initializer_list<int> zygote_fds) {
  // The check after the prctl catches a zygote that died before the signal was armed.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != zygote) ::_exit(1);
  // Its own process group, so that the zygote can kill whatever the worker forks.
  ::setpgid(0, 0);
  // The zygote's descriptors go; what the module opened during init stays.
  if (::dup2(channel, kChildChannelFd) < 0) ::_exit(kExitChannelBroken);
  ::close(channel);
  for (int fd : zygote_fds) ::close(fd);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (absl::Status status = Start(); !status.ok()) {
    SendError(kChildChannelFd, status);
    ::_exit(0);
  }
  // Without a doorbell (spinning off, or no memfd here) both sides simply block.
  int bell_fd = -1;
  Doorbell* bell = limits_.spin_budget_nanos() > 0 ? CreateDoorbell(&bell_fd) : nullptr;
  const uint32_t before = bell != nullptr ? bell->request.load(std::memory_order_acquire) : 0;
  if (!SendFrame(kChildChannelFd, FrameType::kWorkerReady, 0, 0, {}, kNoDeadline, bell_fd).ok()) {
    ::_exit(kExitChannelBroken);
  }
  if (bell_fd >= 0) ::close(bell_fd);
  Serve(bell, before);
}

absl::Status WorkerProcess::Start() {
  absl::StatusOr<fnhost_module_state*> state = zygote_state_.StateForWorker();
  if (!state.ok()) return state.status();
  // After the state, built here or not: the limit is on what the worker adds beyond it.
  if (limits_.memory_limit_bytes() > 0) {
    uint64_t limit = AddressSpaceBytes() + limits_.memory_limit_bytes();
    rlimit address_space{limit, limit};
    if (::setrlimit(RLIMIT_AS, &address_space) != 0) {
      return ErrnoError(errno, "setrlimit(RLIMIT_AS) in a worker of", function());
    }
    std::set_new_handler(&OnOutOfMemory);
  }
  absl::StatusOr<fnhost_module_instance*> instance =
      CreateInstance(zygote_state_.table(), *state, function());
  if (!instance.ok()) return instance.status();
  instance_ = *instance;
  return absl::OkStatus();
}

void WorkerProcess::Serve(Doorbell* bell, uint32_t before) {
  const fnhost_module_v1& table = zygote_state_.table();
  std::string request;
  std::string response;
  // Bounded: an idle worker spins for one budget after its last response, then blocks.
  SpinPolicy spin(absl::Nanoseconds(limits_.spin_budget_nanos()));
  const uint32_t max_message_bytes = limits_.max_message_bytes();
  BellWait wait{bell != nullptr ? &bell->request : nullptr, before, &spin};
  auto respond = [&](int32_t code, uint16_t flags, std::string_view payload) {
    // Read before the response leaves, so that the host's next ring cannot come before it.
    if (bell != nullptr) wait.before = bell->request.load(std::memory_order_acquire);
    SendOrExit(kChildChannelFd, FrameType::kResponse, code, flags, payload);
    if (bell != nullptr) bell->response.fetch_add(1, std::memory_order_release);
  };
  for (;;) {
    FrameHeader header;
    absl::Status received =
        RecvCallFrame(kChildChannelFd, max_message_bytes, kNoDeadline, &header, &request,
                      bell != nullptr ? &wait : nullptr);
    // EOF is the host letting the worker go; anything else is a broken channel.
    if (!received.ok()) ::_exit(absl::IsUnavailable(received) ? 0 : kExitChannelBroken);
    if (header.type != FrameType::kRequest) ::_exit(kExitChannelBroken);
    response.clear();
    CallOutput output(&response);
    hit_memory_limit = false;
    absl::Status status = InvokeModule(table, instance_, request, output, function());
    if (status.ok() && response.size() <= max_message_bytes) {
      respond(0, 0, response);
    } else if (status.ok()) {
      respond(FNHOST_STATUS_RESOURCE_EXHAUSTED, 0,
              FunctionMessage(function(), "response of ", response.size(),
                              " bytes is above max_message_bytes ", max_message_bytes));
    } else if (hit_memory_limit) {
      respond(FNHOST_STATUS_RESOURCE_EXHAUSTED, kFlagWorkerExits,
              FunctionMessage(function(), "worker ", ::getpid(), " reached its memory limit of ",
                              limits_.memory_limit_bytes(),
                              " bytes (address space beyond the zygote's) during invoke: ",
                              output.error_message().empty() ? "(no message)"
                                                             : output.error_message(),
                              "; the worker exits"));
      ::_exit(0);
    } else {
      respond(static_cast<int32_t>(status.code()), 0, AsStd(status.message()));
    }
  }
}

}  // namespace fnhost::internal
