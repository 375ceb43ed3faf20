#include "src/sandbox/cpu_clock.h"

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "src/sandbox/files.h"

namespace fnhost::sandbox {

absl::StatusOr<ProcessCpuClock> ProcessCpuClock::ForProcess(pid_t pid) {
  clockid_t id;
  int error = ::clock_getcpuclockid(pid, &id);
  if (error != 0) {
    return ErrnoStatus(error == ESRCH ? ENOENT : error, "clock_getcpuclockid for process",
                       absl::StrCat(pid));
  }
  return ProcessCpuClock(id);
}

ProcessCpuClock ProcessCpuClock::ForThisProcess() {
  return ProcessCpuClock(CLOCK_PROCESS_CPUTIME_ID);
}

ProcessCpuClock ProcessCpuClock::ForThisThread() { return ProcessCpuClock(CLOCK_THREAD_CPUTIME_ID); }

absl::StatusOr<absl::Duration> ProcessCpuClock::Now() const {
  timespec now;
  if (::clock_gettime(id_, &now) != 0) {
    return ErrnoStatus(errno == EINVAL ? ENOENT : errno, "clock_gettime", "(process CPU clock)");
  }
  return absl::DurationFromTimespec(now);
}

absl::Duration CpuCheckInterval(absl::Duration used, absl::Duration limit, int cpus,
                                absl::Duration granularity) {
  if (used >= limit) return absl::ZeroDuration();
  return std::max((limit - used) / std::max(cpus, 1), granularity);
}

}  // namespace fnhost::sandbox
