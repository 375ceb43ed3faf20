// KeepAliveController: see the header for the rules it applies.

#include "src/policy/keep_alive_controller.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace fnhost {

KeepAliveController::KeepAliveController(std::unique_ptr<KeepAlivePolicy> policy)
    : policy_(std::move(policy)) {}

KeepAliveController::Level& KeepAliveController::At(int level) {
  if (levels_.size() < static_cast<size_t>(level)) levels_.resize(level);
  return levels_[level - 1];
}

void KeepAliveController::Track(int level, absl::Time since) {
  Level& state = At(level);
  warm_ -= state.warm;
  state.warm = false;
  state.since = since;
  ++state.period;
  state.window = policy_->InstanceWindow(level, since);
  Reach(level);
  Evaluate(level, since);
  // Edges of levels that were reached again before their time are stale; drop them when they
  // outnumber the live ones.
  if (edges_.size() > static_cast<size_t>(kEdgesPerLevel * reached_ + kSpareEdges)) {
    edges_.erase(std::remove_if(edges_.begin(), edges_.end(),
                                [this](const Edge& edge) { return !Live(edge); }),
                 edges_.end());
    std::make_heap(edges_.begin(), edges_.end(), std::greater<>());
  }
}

void KeepAliveController::Reach(int level) {
  if (level <= reached_) return;
  reached_ = level;
  edges_.reserve(static_cast<size_t>(kEdgesPerLevel * reached_ + kSpareEdges + 1));
}

void KeepAliveController::Untrack(int level) {
  if (!Tracked(level)) return;
  Level& state = levels_[level - 1];
  warm_ -= state.warm;
  state = Level{.period = state.period};
}

void KeepAliveController::Evaluate(int level, absl::Time now) {
  Level& state = levels_[level - 1];
  const KeepAlivePolicy::Window& window = state.window;
  const bool prewarm_window = window.prewarm_at > state.since;
  const bool warm = now < window.keep_until && (!prewarm_window || now >= window.prewarm_at);
  warm_ += static_cast<int>(warm) - static_cast<int>(state.warm);
  state.warm = warm;
  state.next_edge = prewarm_window && now < window.prewarm_at ? window.prewarm_at
                    : now < window.keep_until                 ? window.keep_until
                                                              : absl::InfiniteFuture();
  if (state.next_edge != absl::InfiniteFuture()) {
    edges_.push_back({state.next_edge, level, state.period});
    std::push_heap(edges_.begin(), edges_.end(), std::greater<>());
  }
}

bool KeepAliveController::Live(const Edge& edge) const {
  return edge.level > busy_ && Tracked(edge.level) &&
         levels_[edge.level - 1].period == edge.period &&
         levels_[edge.level - 1].next_edge == edge.at;
}

void KeepAliveController::PassEdges(absl::Time now) {
  while (!edges_.empty()) {
    const Edge edge = edges_.front();
    const bool live = Live(edge);
    if (live && edge.at > now) return;
    std::pop_heap(edges_.begin(), edges_.end(), std::greater<>());
    edges_.pop_back();
    if (live) Evaluate(edge.level, now);
  }
}

void KeepAliveController::OnInstanceBusy(absl::Time now) {
  ++busy_;
  Reach(busy_);
  if (Tracked(busy_)) {
    policy_->OnInstanceIdleTime(busy_, now - levels_[busy_ - 1].since);
    Untrack(busy_);
  }
  policy_->OnArrival(now);
}

void KeepAliveController::OnInstanceIdle(absl::Time now) {
  if (busy_ == 0) return;
  const int level = busy_--;
  if (busy_ == 0) policy_->OnIdle(now);
  Track(level, now);
}

void KeepAliveController::OnIdleInstanceEvicted(absl::Time now) {
  int oldest = 0;
  for (int level = busy_ + 1; level <= reached_; ++level) {
    const Level& state = levels_[level - 1];
    if (state.warm && (oldest == 0 || state.since < levels_[oldest - 1].since)) oldest = level;
  }
  if (oldest == 0) return;
  levels_[oldest - 1].window.keep_until = now;
  Evaluate(oldest, now);
}

int KeepAliveController::ScanWarmLevels(absl::Time now, absl::Span<const absl::Time> idle_since,
                                        int busy, absl::Time* next) const {
  const int idle = static_cast<int>(idle_since.size());
  int warm = 0;
  for (int level = busy + 1; level <= std::max(busy + idle, reached_); ++level) {
    absl::Time since;
    KeepAlivePolicy::Window window;
    if (Tracked(level)) {
      since = levels_[level - 1].since;
      window = levels_[level - 1].window;
    } else {
      const int position = level - busy - 1;  // among the idle instances, newest first
      if (position >= idle) continue;
      since = idle_since[idle - 1 - position];
      window = policy_->InstanceWindow(level, since);
    }
    const bool prewarm_window = window.prewarm_at > since;
    if (now < window.keep_until && (!prewarm_window || now >= window.prewarm_at)) ++warm;
    const absl::Time edge =
        prewarm_window && now < window.prewarm_at ? window.prewarm_at : window.keep_until;
    if (edge > now) *next = std::min(*next, edge);
  }
  return warm;
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
  // The warm levels above `busy`: kept up to date from the edges passed when the caller's
  // busy count is the controller's and every idle instance's level is tracked; else scanned.
  PassEdges(now);
  const bool incremental = busy == busy_ && busy + idle <= reached_;
  const int warm = incremental ? warm_ : ScanWarmLevels(now, idle_since, busy, &next);

  Decision decision;
  const int keep = std::max(warm, floor - busy);
  decision.evict = std::max(0, idle - keep);
  decision.prewarm = std::max(0, keep - idle);
  if (WarmTickPassed(wall_now) && busy + idle - decision.evict + decision.prewarm == 0) {
    decision.prewarm = 1;
    if (busy_ == 0) Track(1, now);
    if (!incremental) consider(policy_->InstanceWindow(1, now).keep_until);
  }
  decision.prewarm =
      std::min(decision.prewarm, std::max(0, max_instances - (busy + idle - decision.evict)));
  decision.unload = policy_->UnloadWhenEmpty() && loaded && busy == 0 &&
                    idle - decision.evict + decision.prewarm == 0;

  if (incremental && !edges_.empty()) consider(edges_.front().at);
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
