// KeepAliveController: see the header for the rules it applies.

#include "src/policy/keep_alive_controller.h"

#include <algorithm>
#include <utility>

namespace fnhost {

KeepAliveController::KeepAliveController(std::unique_ptr<KeepAlivePolicy> policy)
    : policy_(std::move(policy)) {}

void KeepAliveController::OnArrival(absl::Time now) {
  idle_ = false;
  policy_->OnArrival(now);
}

void KeepAliveController::OnCallEnd(absl::Time now) { policy_->OnCallEnd(now); }

void KeepAliveController::OnIdle(absl::Time now) {
  idle_ = true;
  idle_start_ = now;
  policy_->OnIdle(now);
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
  const int total = idle + busy;
  const int floor = std::clamp(std::max(min_instances, policy_->ScheduledMinimum(wall_now)), 0,
                               std::max(max_instances, 0));
  const bool function_idle = idle_ && busy == 0;
  const KeepAlivePolicy::Window window =
      function_idle ? policy_->CurrentWindow() : KeepAlivePolicy::Window{};
  const bool prewarm_window = function_idle && window.prewarm_at > idle_start_;
  const absl::Duration keep = policy_->InstanceKeepAlive();

  // Non-decreasing in `since`, so the expired instances are the oldest ones.
  auto expiry = [&](absl::Time since) {
    if (!function_idle) return since + keep;
    if (!prewarm_window) return std::min(since + keep, window.keep_until);
    return now < window.prewarm_at ? now : window.keep_until;
  };

  Decision decision;
  int expired = 0;
  while (expired < idle && expiry(idle_since[expired]) <= now) ++expired;
  decision.evict = std::min(expired, std::max(0, total - floor));
  const int remaining = total - decision.evict;

  int want = floor;
  const bool in_prewarm_window =
      prewarm_window && window.prewarm_at <= now && now < window.keep_until;
  if (in_prewarm_window) want = std::max(want, 1);
  if (WarmTickPassed(wall_now) && remaining == 0) want = std::max(want, 1);
  decision.prewarm = std::clamp(want - remaining, 0, std::max(0, max_instances - remaining));
  decision.unload = policy_->UnloadWhenEmpty() && loaded && busy == 0 && remaining == 0 &&
                    decision.prewarm == 0;

  // The earliest future time at which this decision would change without a call.
  absl::Time next = absl::InfiniteFuture();
  auto consider = [&](absl::Time t) {
    if (t > now) next = std::min(next, t);
  };
  if (expired < idle) consider(expiry(idle_since[expired]));
  if (decision.prewarm > 0) consider(expiry(now));
  if (prewarm_window) consider(now < window.prewarm_at ? window.prewarm_at : window.keep_until);
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
