// KeepAliveController: see the header for the rules it applies.

#include "src/policy/keep_alive_controller.h"

#include <algorithm>
#include <utility>

namespace fnhost {

KeepAliveController::KeepAliveController(std::unique_ptr<KeepAlivePolicy> policy)
    : policy_(std::move(policy)) {}

absl::Time& KeepAliveController::LevelIdleSince(int level) {
  if (level_idle_since_.size() < static_cast<size_t>(level)) {
    level_idle_since_.resize(level, absl::InfinitePast());
  }
  return level_idle_since_[level - 1];
}

void KeepAliveController::OnInstanceBusy(absl::Time now) {
  ++busy_;
  absl::Time& since = LevelIdleSince(busy_);
  if (since != absl::InfinitePast()) policy_->OnInstanceIdleTime(busy_, now - since);
  since = absl::InfinitePast();
  policy_->OnArrival(now);
}

void KeepAliveController::OnInstanceIdle(absl::Time now) {
  if (busy_ == 0) return;
  LevelIdleSince(busy_) = now;
  scan_top_ = std::max(scan_top_, busy_);
  if (--busy_ == 0) policy_->OnIdle(now);
}

bool KeepAliveController::WarmTickPassed(absl::Time wall_now) {
  const absl::Duration period = policy_->WarmEvery();
  const absl::Time last = std::exchange(last_wall_, wall_now);
  if (period <= absl::ZeroDuration() || last == absl::InfinitePast()) return false;
  absl::Duration unused;
  return absl::IDivDuration(wall_now - absl::UnixEpoch(), period, &unused) >
         absl::IDivDuration(last - absl::UnixEpoch(), period, &unused);
}

KeepAliveController::Decision KeepAliveController::Decide(
    absl::Time now, absl::Time wall_now, absl::Span<const absl::Time> idle_since, int busy,
    bool loaded, int min_instances, int max_instances) {
  const int idle = static_cast<int>(idle_since.size());
  busy = std::max(busy, 0);
  max_instances = std::max(max_instances, 0);
  const int floor =
      std::clamp(std::max(min_instances, policy_->ScheduledMinimum(wall_now)), 0, max_instances);

  absl::Time next = absl::InfiniteFuture();
  auto consider = [&](absl::Time t) {
    if (t > now) next = std::min(next, t);
  };
  // Count the warm levels above `busy`, and note when that may change.
  int warm = 0;
  int live_top = 0;  // the highest level whose window is not over
  const int top = std::max(busy + idle, scan_top_);
  for (int level = busy + 1; level <= top; ++level) {
    absl::Time since = level <= static_cast<int>(level_idle_since_.size())
                           ? level_idle_since_[level - 1]
                           : absl::InfinitePast();
    const int position = level - busy - 1;  // among the idle instances, newest first
    if (since == absl::InfinitePast() && position < idle) since = idle_since[idle - 1 - position];
    if (since == absl::InfinitePast()) continue;
    const KeepAlivePolicy::Window window = policy_->InstanceWindow(level, since);
    const bool prewarm_window = window.prewarm_at > since;
    if (now < window.keep_until && (!prewarm_window || now >= window.prewarm_at)) ++warm;
    if (now < window.keep_until) live_top = level;
    consider(prewarm_window && now < window.prewarm_at ? window.prewarm_at : window.keep_until);
  }
  scan_top_ = live_top;

  Decision decision;
  const int keep = std::max(warm, floor - busy);
  decision.evict = std::max(0, idle - keep);
  decision.prewarm = std::max(0, keep - idle);
  if (WarmTickPassed(wall_now) && busy + idle - decision.evict + decision.prewarm == 0) {
    decision.prewarm = 1;
    LevelIdleSince(1) = now;
    scan_top_ = std::max(scan_top_, 1);
    consider(policy_->InstanceWindow(1, now).keep_until);
  }
  decision.prewarm =
      std::min(decision.prewarm, std::max(0, max_instances - (busy + idle - decision.evict)));
  decision.unload = policy_->UnloadWhenEmpty() && loaded && busy == 0 &&
                    idle - decision.evict + decision.prewarm == 0;

  // Wall-clock events, moved onto the monotonic clock.
  consider(now + (policy_->NextScheduleChange(wall_now) - wall_now));
  const absl::Duration period = policy_->WarmEvery();
  if (period > absl::ZeroDuration()) {
    absl::Duration unused;
    const int64_t ticks = absl::IDivDuration(wall_now - absl::UnixEpoch(), period, &unused);
    consider(now + (absl::UnixEpoch() + (ticks + 1) * period - wall_now));
  }
  decision.next_decision = next;
  return decision;
}

}  // namespace fnhost
