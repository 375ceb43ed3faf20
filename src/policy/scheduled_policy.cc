// ScheduledPolicy: see the header.

#include "src/policy/scheduled_policy.h"

#include <algorithm>

#include "absl/time/civil_time.h"

namespace fnhost {

ScheduledPolicy::ScheduledPolicy(const KeepAliveOptions& options, absl::TimeZone time_zone)
    : FixedPolicy(options), time_zone_(time_zone) {}

int ScheduledPolicy::ScheduledMinimum(absl::Time wall_now) const {
  const absl::CivilMinute civil = absl::ToCivilMinute(wall_now, time_zone_);
  const int minute = civil.hour() * 60 + civil.minute();
  for (const KeepAliveOptions::DailyWindow& window : options().daily_windows) {
    const bool inside = window.begin_minute <= window.end_minute
                            ? window.begin_minute <= minute && minute < window.end_minute
                            : minute >= window.begin_minute || minute < window.end_minute;
    if (inside) return options().scheduled_instances;
  }
  return 0;
}

absl::Time ScheduledPolicy::NextScheduleChange(absl::Time wall_now) const {
  const absl::CivilDay today = absl::ToCivilDay(wall_now, time_zone_);
  absl::Time next = absl::InfiniteFuture();
  // A boundary of today or tomorrow is always the next one of its window.
  for (const KeepAliveOptions::DailyWindow& window : options().daily_windows) {
    for (int minute : {window.begin_minute, window.end_minute}) {
      for (absl::CivilDay day : {today, today + 1}) {
        const absl::Time at = absl::FromCivil(absl::CivilMinute(day) + minute, time_zone_);
        if (at > wall_now) next = std::min(next, at);
      }
    }
  }
  return next;
}

}  // namespace fnhost
