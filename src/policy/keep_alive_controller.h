// KeepAliveController: applies one function's KeepAlivePolicy to its pool of instances. The
// host's pool calls it under the pool's lock, and the simulator calls it on a virtual clock,
// so that both make exactly the same decisions.
//
// Rules, in order (all at one Decide):
//  1. Floor: max(min_instances, policy.ScheduledMinimum(wall_now)), at most max_instances.
//     No eviction goes below it, and missing instances up to it are prewarmed.
//  2. Expiry of each idle instance, from the time it became idle (s):
//     - while calls run, or before the first OnIdle: s + policy.InstanceKeepAlive();
//     - while the function is idle in a window that stays loaded (prewarm_at <= idle start):
//       min(s + InstanceKeepAlive(), window.keep_until);
//     - while the function is idle in a prewarm window (prewarm_at > idle start): every idle
//       instance is evicted before prewarm_at ("unload after execution"), kept from
//       prewarm_at to keep_until, and evicted at keep_until.
//     Expired instances are evicted, oldest first.
//  3. Prewarm window: from prewarm_at until keep_until, one instance is kept warm (prewarmed
//     if none is left; the paper's policy manages one instance per application).
//  4. Warmer: when policy.WarmEvery() is positive and a wall-clock multiple of it (since the
//     Unix epoch) passed since the previous Decide (or is now), one instance is prewarmed if
//     none would be left. The first Decide only sets the reference point.
//  5. Unload when, after this decision, no instance is left (none idle, none busy, none
//     prewarmed), the module is loaded, and policy.UnloadWhenEmpty().
//
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
#define FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_

#include <memory>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {

class KeepAliveController {
 public:
  explicit KeepAliveController(std::unique_ptr<KeepAlivePolicy> policy);

  // A call arrived (took an instance); call it for every call.
  void OnArrival(absl::Time now);
  // A call ended; call it for every call, before OnIdle.
  void OnCallEnd(absl::Time now);
  // The busy count fell to zero.
  void OnIdle(absl::Time now);

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

  std::unique_ptr<KeepAlivePolicy> policy_;
  bool idle_ = false;  // OnIdle seen since the last OnArrival
  absl::Time idle_start_ = absl::InfinitePast();
  absl::Time last_wall_ = absl::InfinitePast();  // wall_now of the previous Decide
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_KEEP_ALIVE_CONTROLLER_H_
