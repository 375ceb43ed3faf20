#include "src/isolation/cpu_budget.h"

#include <sched.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "fnhost/sandbox_options.h"
#include "src/sandbox/cpu_clock.h"

namespace fnhost::internal {
namespace {

// The CPUs this process may run on; a worker forked from its zygote has no more.
int UsableCpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace

absl::StatusOr<CpuBudget> CpuBudget::ForProcess(int pid, absl::Duration limit) {
  absl::StatusOr<sandbox::ProcessCpuClock> clock = sandbox::ProcessCpuClock::ForProcess(pid);
  if (!clock.ok()) return clock.status();
  // One read now, so that a clock the kernel will not give is an error here, not a silent
  // "within budget" at every check.
  if (absl::StatusOr<absl::Duration> now = clock->Now(); !now.ok()) return now.status();
  return CpuBudget([clock = *clock] { return clock.Now(); }, limit, UsableCpus());
}

void CpuBudget::Start() {
  absl::StatusOr<absl::Duration> now = clock_();
  start_ = now.ok() ? *now : absl::ZeroDuration();
  used_ = absl::ZeroDuration();
}

absl::Status CpuBudget::Check() {
  absl::StatusOr<absl::Duration> now = clock_();
  if (!now.ok()) return absl::OkStatus();
  used_ = *now - start_;
  if (used_ < limit_) return absl::OkStatus();
  absl::Status status = absl::DeadlineExceededError(
      absl::StrCat("call used ", absl::FormatDuration(used_), " of CPU time, above its "
                   "cpu_time_limit of ", absl::FormatDuration(limit_)));
  status.SetPayload(kSandboxLimitPayloadUrl, absl::Cord("cpu_time"));
  return status;
}

absl::Duration CpuBudget::NextCheck() const {
  return sandbox::CpuCheckInterval(used_, limit_, cpus_);
}

}  // namespace fnhost::internal
