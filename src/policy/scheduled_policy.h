// ScheduledPolicy: FixedPolicy plus what operators schedule by hand: `scheduled_instances`
// kept warm inside daily windows (wall clock, in a given time zone), and a periodic warmer
// (`warm_every`, applied by KeepAliveController: at every wall-clock multiple of the period at
// which the function would have no instance, one is created).
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_SCHEDULED_POLICY_H_
#define FNHOST_SRC_POLICY_SCHEDULED_POLICY_H_

#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "src/policy/fixed_policy.h"

namespace fnhost {

class ScheduledPolicy final : public FixedPolicy {
 public:
  // Daily windows are [begin, end) minutes after midnight in `time_zone`; begin > end wraps
  // past midnight.
  ScheduledPolicy(const KeepAliveOptions& options, absl::TimeZone time_zone);

  int ScheduledMinimum(absl::Time wall_now) const override;
  absl::Time NextScheduleChange(absl::Time wall_now) const override;
  absl::Duration WarmEvery() const override { return options().warm_every; }

 private:
  const absl::TimeZone time_zone_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_SCHEDULED_POLICY_H_
