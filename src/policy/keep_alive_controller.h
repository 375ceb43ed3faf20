// KeepAliveController: applies one function's KeepAlivePolicy to its pool of instances. The
// host's pool calls it under the pool's lock, and the simulator calls it on a virtual clock,
// so that both make exactly the same decisions.
//
// Instances are interchangeable, so the controller decides how many idle instances to keep,
// from instance levels: with b instances busy, the idle instances serve levels b+1, b+2, ...
// (the pool hands out the most recently idle one first). Level k is idle from when the number
// of busy instances last fell below k (tracked from OnInstanceBusy and OnInstanceIdle; for a
// level never reached, the idle instance's own idle_since), and its window is the policy's
// InstanceWindow(k, since) asked when that idle period starts (as the paper plans each idle
// period at its start): a window that stays loaded until keep_until, or a prewarm window from
// prewarm_at to keep_until. It is warm when now lies in its window. Rules, at each Decide:
//  1. Floor: max(min_instances, policy.ScheduledMinimum(wall_now)), at most max_instances.
//  2. Keep as many idle instances as there are warm levels above b, and at least floor - b:
//     evict the extra ones, oldest first, or prewarm the missing ones (up to max_instances).
//     So an idle instance whose level's window has passed is evicted, and a level whose
//     prewarm window opens gets an instance.
//  3. Warmer: when policy.WarmEvery() is positive and a wall-clock multiple of it (since the
//     Unix epoch) passed since the previous Decide (or is now), one instance is prewarmed if
//     none would be left; its level is idle from now. The first Decide only sets the
//     reference point.
//  4. Unload when, after this decision, no instance is left (none idle, none busy, none
//     prewarmed), the module is loaded, and policy.UnloadWhenEmpty().
// Cost: when the caller's busy count matches the controller's and every idle instance sits at
// a level reached before, Decide costs O(log n) for n window edges passed since the previous
// one, whatever the number of instances (the windows' edges wait in a heap); otherwise it scans
// the levels.
// For the fixed policy this is the usual rule: every idle instance is evicted once idle for
// the timeout.
//
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
#define FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {

class KeepAliveController {
 public:
  explicit KeepAliveController(std::unique_ptr<KeepAlivePolicy> policy);

  // The one way to feed the controller, for the host's pool and the simulator alike. An
  // instance went busy: a call took an idle instance or started a new one (with one call per
  // instance, the default, this is every call's start). The policy learns the idle time of
  // the level the instance now serves.
  void OnInstanceBusy(absl::Time now);
  // An instance went idle, or left the pool while busy (with one call per instance, every
  // call's end). When no instance is busy any more, the policy's OnIdle follows.
  void OnInstanceIdle(absl::Time now);

  int busy() const { return busy_; }

  // The owner destroyed an idle instance for a reason of its own (a memory budget): the warm
  // level idle the longest loses its window, so that no prewarm replaces the instance.
  void OnIdleInstanceEvicted(absl::Time now);

  struct Decision {
    int evict = 0;        // idle instances to destroy now, oldest idle first
    bool unload = false;  // also destroy the module state and dlclose (scale to zero)
    int prewarm = 0;      // instances to create now ahead of demand
    // When Decide should be called again at the latest if no call arrives or ends; always
    // after `now`.
    absl::Time next_decision = absl::InfiniteFuture();
  };
  // `idle_since`: one entry per idle instance, the time it became idle, oldest first.
  // `busy`: instances serving calls. `now` is monotonic time, `wall_now` the wall clock.
  Decision Decide(absl::Time now, absl::Time wall_now, absl::Span<const absl::Time> idle_since,
                  int busy, bool loaded, int min_instances, int max_instances);

  const KeepAlivePolicy& policy() const { return *policy_; }

 private:
  // A level's window edge still ahead: at `at`, level `level` (in its idle period number
  // `period`) may change from cold to warm or back.
  struct Edge {
    absl::Time at;
    int level;
    uint64_t period;
    bool operator>(const Edge& other) const { return at > other.at; }
  };
  static constexpr int kEdgesPerLevel = 4;  // stale edges allowed per level before compaction
  static constexpr int kSpareEdges = 64;
  // Per level, [k - 1]. `since`: when the number of busy instances last fell below k, while it
  // has not reached k again; InfinitePast otherwise (untracked).
  struct Level {
    absl::Time since = absl::InfinitePast();
    KeepAlivePolicy::Window window;  // asked when `since` was set
    absl::Time next_edge = absl::InfiniteFuture();
    bool warm = false;  // at the last evaluation; counted in warm_ while above busy_
    uint64_t period = 0;  // idle periods so far: tells a stale edge from a live one
  };

  // Whether a warmer tick fell in (previous Decide, wall_now]; remembers wall_now.
  bool WarmTickPassed(absl::Time wall_now);
  Level& At(int level);
  bool Tracked(int level) const {
    return level >= 1 && level <= static_cast<int>(levels_.size()) &&
           levels_[level - 1].since != absl::InfinitePast();
  }
  // Level `level`, above busy_, is idle from `since`: asks its window and evaluates it.
  void Track(int level, absl::Time since);
  void Untrack(int level);
  // Raises reached_ to `level`, and the edges' capacity with it.
  void Reach(int level);
  // Updates a tracked level's warm flag at `now` and queues its next edge.
  void Evaluate(int level, absl::Time now);
  // Evaluates the levels whose edges passed by `now`; drops stale edges from the top.
  void PassEdges(absl::Time now);
  // Whether `edge` is still the next edge of its level.
  bool Live(const Edge& edge) const;
  // Warm levels above `busy`, by a scan of every level (the general case); notes the next edge
  // in `next`.
  int ScanWarmLevels(absl::Time now, absl::Span<const absl::Time> idle_since, int busy,
                     absl::Time* next) const;

  std::unique_ptr<KeepAlivePolicy> policy_;
  int busy_ = 0;     // busy instances, as OnInstanceBusy/OnInstanceIdle report them
  int reached_ = 0;  // the highest level tracked so far; every level in (busy_, reached_] is
  std::vector<Level> levels_;
  int warm_ = 0;  // warm levels above busy_
  // A min-heap by time (std::push_heap with std::greater). Its capacity is reserved when a new
  // level is reached and stale edges are dropped in place, so that the pool's warm path does
  // not allocate.
  std::vector<Edge> edges_;
  absl::Time last_wall_ = absl::InfinitePast();  // wall_now of the previous Decide
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
