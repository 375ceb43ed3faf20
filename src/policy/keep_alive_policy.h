// KeepAlivePolicy: one function's keep-alive and prewarm decisions, as a pure function of the
// calls it has seen. The host's pool and the trace simulator (fnhost sim) both drive policies
// through KeepAliveController, so a simulated policy is exactly the one the host runs.
//
// Policies read no clock: every time is passed in (monotonic `now`, and `wall_now` for daily
// schedules), so that they are deterministic and testable without waiting.
// Thread-safety: none; the owner (the pool, under its lock) serialises all calls.

#ifndef FNHOST_SRC_POLICY_KEEP_ALIVE_POLICY_H_
#define FNHOST_SRC_POLICY_KEEP_ALIVE_POLICY_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"

namespace fnhost {

class KeepAlivePolicy {
 public:
  virtual ~KeepAlivePolicy() = default;

  // An instance went busy (with one call per instance: a call arrived).
  virtual void OnArrival(absl::Time now) = 0;
  // The last busy instance went idle: the function is idle from `now`.
  virtual void OnIdle(absl::Time now) = 0;
  // The pool's instance at `level` (1 for the first, k for the one only the k-th concurrent
  // call needs) had been idle for `idle_time` when a call took it: from when the number of
  // running calls last fell below `level` until it reached `level` again. Level 1 gives the
  // function's idle times (end of the last call -> next arrival). KeepAliveController
  // derives these, and OnArrival and OnIdle, from OnInstanceBusy/OnInstanceIdle.
  virtual void OnInstanceIdleTime(int level, absl::Duration idle_time) {}

  // What to do with an idle instance, or with an instance that could be prewarmed.
  struct Window {
    // At or before the idle start: stay loaded from the idle start. Later: unload at the idle
    // start and load (one instance) again at this time.
    absl::Time prewarm_at = absl::InfinitePast();
    // Evict (and unload) at this time unless a call arrives.
    absl::Time keep_until = absl::InfiniteFuture();
  };
  // For the idle period of the function that began at the last OnIdle (level 1). Meaningful
  // only after an OnIdle and before the next OnArrival.
  virtual Window CurrentWindow() const = 0;
  // For the instance at `level` (as in OnInstanceIdleTime) idle since `idle_since`.
  virtual Window InstanceWindow(int level, absl::Time idle_since) const = 0;

  // Instances to keep warm at `wall_now` regardless of traffic.
  virtual int ScheduledMinimum(absl::Time wall_now) const { return 0; }
  // The first wall-clock time after `wall_now` at which ScheduledMinimum may change.
  virtual absl::Time NextScheduleChange(absl::Time wall_now) const {
    return absl::InfiniteFuture();
  }
  // When positive, an instance is made warm at every wall-clock multiple of this period (since
  // the Unix epoch) at which the function would otherwise have none; see KeepAliveController.
  virtual absl::Duration WarmEvery() const { return absl::ZeroDuration(); }

  // Whether to unload the module (scale to zero) once no instance is left.
  virtual bool UnloadWhenEmpty() const = 0;

  // For logs: "fixed:10m", "scheduled:10m,window=08:00-18:00,instances=2",
  // "hybrid(histogram: prewarm 54s, keep until 6m36s; cv 5.20, 31 idle times, 0 out of
  // bounds)" (the first instance's plan).
  virtual std::string Describe() const = 0;
};

// The policy `options` describe. `time_zone` is where the daily windows of a scheduled policy
// are read; the simulator passes UTC so that its results do not depend on the machine.
std::unique_ptr<KeepAlivePolicy> MakeKeepAlivePolicy(
    const KeepAliveOptions& options, absl::TimeZone time_zone = absl::LocalTimeZone());

// OK, or INVALID_ARGUMENT naming the first field out of range ("idle_timeout -1s is
// negative"); the caller adds whose options they are.
absl::Status ValidateKeepAliveOptions(const KeepAliveOptions& options);

// Parses a policy spec, a kind and comma-separated options:
//   fixed:DURATION                    e.g. "fixed:10m", "fixed:0", "fixed:1h30m"
//   hybrid[,cold-start-cost=GB_S]     the histogram policy of Shahrad et al. (ATC 2020);
//                                     GB_S is KeepAliveOptions::cold_start_cost_gb_s
//   scheduled:DURATION[,window=HH:MM-HH:MM]...[,instances=N][,every=DURATION]
//                                     fixed, plus N instances (default 1) inside the daily
//                                     windows (local time, [begin, end), wrapping past
//                                     midnight when begin > end; end may be 24:00) and a
//                                     periodic warmer
// and, after fixed or scheduled, ",by-memory" to scale the idle timeout by the instance's
// memory (scale_by_memory), and after any of them, ",keep-loaded" to keep the module loaded
// when no instance is left (unload_when_idle = false). DURATION is absl::ParseDuration syntax ("90s", "1h30m", "0").
absl::StatusOr<KeepAliveOptions> ParsePolicySpec(std::string_view spec);

// The canonical spec of `options`, which ParsePolicySpec accepts: "fixed:10m",
// "scheduled:5m,window=08:00-18:00,instances=2,every=15m,keep-loaded", "hybrid".
std::string FormatPolicySpec(const KeepAliveOptions& options);

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_KEEP_ALIVE_POLICY_H_
