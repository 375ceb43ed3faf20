#include "src/isolation/call_poller.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "src/common/function_error.h"

namespace fnhost::internal {
namespace {

constexpr uint64_t kWakeKey = UINT64_MAX;
constexpr int kMaxEvents = 64;

uint64_t KeyOf(uint32_t index, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | index;
}

}  // namespace

CallPoller::CallPoller()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeKey;
  if (epoll_fd_ >= 0 && wake_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
}

CallPoller::~CallPoller() {
  std::thread thread;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    thread.swap(thread_);
  }
  Wake();
  if (thread.joinable()) thread.join();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void CallPoller::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

absl::Status CallPoller::Start(Worker* worker, std::string_view request, std::string* response,
                               CallRecord* record, CallCompletion* done,
                               const Watchdog* watchdog, const CallObserver* on_end) {
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("the poller of isolated calls has no epoll set: ", std::strerror(errno)));
  }
  if (absl::Status started = worker->StartCall(request, response, record); !started.ok()) {
    if (on_end != nullptr) (*on_end)(*worker);
    return started;
  }
  const absl::Time deadline = worker->call_deadline();
  const absl::Time cpu_check = worker->cpu_check_due();
  const bool timed = deadline != absl::InfiniteFuture() || cpu_check != absl::InfiniteFuture() ||
                     (watchdog != nullptr && watchdog->interval != absl::InfiniteDuration());
  {
    MutexLock lock(mu_);
    uint32_t index;
    if (free_.empty()) {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      index = free_.back();
      free_.pop_back();
    }
    Slot& slot = slots_[index];
    slot.worker = worker;
    // A duplicate of the worker's socket, closed only once the call is out of the set: a worker
    // lost while its response is read closes its own descriptor first, and a new worker's
    // socket could take that number before the poller removes it (and remove the wrong one).
    const int socket = worker->fd_for_poller();
    slot.fd = ::fcntl(socket, F_DUPFD_CLOEXEC, 0);
    slot.owns_fd = slot.fd >= 0;
    if (!slot.owns_fd) slot.fd = socket;  // out of descriptors: the race above stays possible
    slot.done = done;
    slot.watchdog = watchdog;
    slot.on_end = on_end;
    slot.deadline = deadline;
    slot.cpu_check = cpu_check;
    slot.next_check = watchdog != nullptr && watchdog->interval != absl::InfiniteDuration()
                          ? Clock::Real()->Now() + watchdog->interval
                          : absl::InfiniteFuture();
    slot.kill = false;
    // Under the lock: the poller cannot end the call (and close the socket) before it is in
    // the set. Level-triggered, so a response that came first is reported at once.
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = KeyOf(index, slot.generation);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, slot.fd, &event);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  if (timed) Wake();  // the poller's wait may have to end sooner
  return absl::OkStatus();
}

void CallPoller::RequestKill(Worker* worker) {
  {
    MutexLock lock(mu_);
    auto it = std::find_if(slots_.begin(), slots_.end(),
                           [worker](const Slot& slot) { return slot.worker == worker; });
    if (it == slots_.end()) return;  // over already
    it->kill = true;
  }
  Wake();
}

void CallPoller::Loop() {
  epoll_event events[kMaxEvents];
  for (;;) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    const int ready = ::epoll_wait(epoll_fd_, events, kMaxEvents, WaitMillis());
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.u64 == kWakeKey) {
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      OnReadable(events[i].data.u64);
    }
    Sweep();
  }
}

int CallPoller::WaitMillis() {
  absl::Time earliest = absl::InfiniteFuture();
  {
    MutexLock lock(mu_);
    for (const Slot& slot : slots_) {
      if (slot.worker == nullptr) continue;
      if (slot.kill) return 0;
      earliest = std::min({earliest, slot.deadline, slot.next_check, slot.cpu_check});
    }
  }
  if (earliest == absl::InfiniteFuture()) return -1;
  const absl::Duration left = earliest - Clock::Real()->Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 60'000));
}

void CallPoller::OnReadable(uint64_t key) {
  const uint32_t index = static_cast<uint32_t>(key);
  const uint32_t generation = static_cast<uint32_t>(key >> 32);
  Worker* worker = nullptr;
  {
    MutexLock lock(mu_);
    if (index >= slots_.size() || slots_[index].generation != generation) return;
    worker = slots_[index].worker;
  }
  if (worker == nullptr) return;
  // Only this thread ends calls, so the worker stays until its call is taken out below.
  std::optional<absl::Status> result = worker->ContinueCall();
  if (!result.has_value()) return;
  Slot slot;
  {
    MutexLock lock(mu_);
    if (!Take(index, generation, &slot)) return;
  }
  End(slot, Ending::kResponse, *std::move(result));
}

bool CallPoller::Take(uint32_t index, uint32_t generation, Slot* slot) {
  Slot& taken = slots_[index];
  if (taken.worker == nullptr || taken.generation != generation) return false;
  *slot = taken;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, taken.fd, nullptr);
  if (taken.owns_fd) ::close(taken.fd);
  taken.worker = nullptr;
  taken.fd = -1;
  taken.owns_fd = false;
  ++taken.generation;
  free_.push_back(index);
  return true;
}

void CallPoller::Sweep() {
  const absl::Time now = Clock::Real()->Now();
  struct Due {
    uint32_t index;
    uint32_t generation;
    Ending ending;
  };
  std::vector<Due> due;  // a few at most: allocated only when something is due
  {
    MutexLock lock(mu_);
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      const Slot& slot = slots_[i];
      if (slot.worker == nullptr) continue;
      if (slot.kill) {
        due.push_back({i, slot.generation, Ending::kKill});
      } else if (slot.deadline <= now) {
        due.push_back({i, slot.generation, Ending::kTimeout});
      } else if (slot.cpu_check <= now) {
        due.push_back({i, slot.generation, Ending::kCpuTime});
      } else if (slot.next_check <= now) {
        due.push_back({i, slot.generation, Ending::kWatchdog});
      }
    }
  }
  for (const Due& entry : due) {
    const bool check = entry.ending == Ending::kWatchdog || entry.ending == Ending::kCpuTime;
    Slot slot;
    absl::Status why;
    {
      MutexLock lock(mu_);
      Slot& current = slots_[entry.index];
      if (current.worker == nullptr || current.generation != entry.generation) continue;
      if (check) {
        // The check runs without the lock, on a call only this thread can end.
        slot = current;
      } else if (!Take(entry.index, entry.generation, &slot)) {
        continue;
      }
    }
    if (check) {
      absl::Time next;
      why = RunCheck(slot, entry.ending, now, &next);
      MutexLock lock(mu_);
      if (why.ok()) {
        Slot& current = slots_[entry.index];
        if (entry.ending == Ending::kWatchdog) {
          current.next_check = next;
        } else {
          current.cpu_check = next;
        }
        continue;
      }
      if (!Take(entry.index, entry.generation, &slot)) continue;
    }
    End(slot, entry.ending, std::move(why));
  }
}

absl::Status CallPoller::RunCheck(const Slot& slot, Ending ending, absl::Time now,
                                  absl::Time* next) {
  if (ending == Ending::kCpuTime) return slot.worker->CheckCallCpuTime(next);
  *next = now + slot.watchdog->interval;
  return slot.watchdog->check(*slot.worker);
}

void CallPoller::End(const Slot& slot, Ending ending, absl::Status why) {
  Worker& worker = *slot.worker;
  absl::Status status;
  switch (ending) {
    case Ending::kResponse:
      status = std::move(why);
      break;
    case Ending::kTimeout:
      status = worker.TimeOutCall();
      break;
    case Ending::kKill:
      status = worker.KillCall(absl::CancelledError(FunctionMessage(
                                   worker.function_name(), "the call was cancelled; worker ",
                                   worker.pid(), " killed")),
                               WorkerLoss::kCancelled);
      break;
    case Ending::kWatchdog:
      status = worker.KillCall(std::move(why), WorkerLoss::kWatchdog);
      break;
    case Ending::kCpuTime:
      status = worker.LoseCall(why);
      break;
  }
  if (slot.on_end != nullptr) (*slot.on_end)(worker);
  slot.done->OnCallDone(std::move(status));
}

}  // namespace fnhost::internal
