// KeepAliveController: applies one function's KeepAlivePolicy to its pool of instances. The
// host's pool calls it under the pool's lock, and the simulator calls it on a virtual clock,
// so that both make exactly the same decisions.
//
// Instances are interchangeable, so the controller decides how many idle instances to keep,
// from instance levels: with b calls running, the idle instances serve levels b+1, b+2, ...
// (the pool hands out the most recently idle one first). Level k has been idle since the
// number of busy instances last fell below k (tracked from OnInstanceBusy and OnInstanceIdle;
// for a level not tracked, the idle instance's own idle_since), and it is warm now if the
// policy's InstanceWindow(k, since) says so: a window that stays loaded until keep_until, or a
// prewarm window from prewarm_at to keep_until. Rules, at each Decide:
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
// For the fixed policy this is the usual rule: every idle instance is evicted once idle for
// the timeout.
//
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
#define FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_

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
  // Whether a warmer tick fell in (previous Decide, wall_now]; remembers wall_now.
  bool WarmTickPassed(absl::Time wall_now);
  absl::Time& LevelIdleSince(int level);

  std::unique_ptr<KeepAlivePolicy> policy_;
  int busy_ = 0;  // busy instances, as OnInstanceBusy/OnInstanceIdle report them
  // [k - 1]: when the number of running calls last fell below k, while it has not reached k
  // again; InfinitePast otherwise.
  std::vector<absl::Time> level_idle_since_;
  // Levels above this and above the instances have windows that are over: Decide skips them
  // (a call ending at a level raises it again).
  int scan_top_ = 0;
  absl::Time last_wall_ = absl::InfinitePast();  // wall_now of the previous Decide
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
