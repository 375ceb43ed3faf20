// HybridPolicy: the hybrid histogram keep-alive policy of Shahrad et al., "Serverless in the
// Wild", USENIX ATC 2020 (Section 4.2), for one function.
//
// Idle times go into a histogram of 1-minute bins covering 4 hours; longer ones are
// out-of-bounds (OOB). The paper manages one instance per application, and its idle time runs
// from the end of the application's last execution to its next invocation. A pool keeps one
// instance per concurrent call, so the policy is applied to each instance level separately:
// the k-th instance is idle from when the number of running calls falls below k until it
// reaches k again (the pool hands out the most recently idle instance first, so this is that
// instance's own idle time), and level k keeps its own histogram (levels above kMaxLevels,
// about 1 KB each, learn nothing and keep the 4-hour range). Level 1 is exactly the paper's
// policy; the others give the instances that only bursts need their own keep-alive, rather
// than the first instance's.
//
// Per level, before each idle period, one of three modes:
//  - kPredicted, when at least half of all idle times are OOB (the paper: "many OOB idle
//    times"): predict the next idle time P from the series of OOB idle times, unload after the
//    call, prewarm at 0.85 P and keep warm until 1.15 P: a window of 0.3 P centred on the
//    prediction, i.e. the paper's 15% margin on each side of it.
//    The paper fits ARIMA; this uses simple exponential smoothing with weight 0.5 on the
//    newest value, which is the forecast of an ARIMA(0,1,1) model with a fixed coefficient.
//    It needs no fitting (a handful of samples per day would not support one), cannot fail,
//    is exact for the periodic functions that make up most OOB series (daily timers), and
//    follows a changed period within a few idle times. Only OOB idle times feed it: in-bound
//    ones (often seconds, inside bursts) would drag a day-scale forecast towards minutes.
//  - kRange, when the histogram is not representative: fewer than kMinIdleTimes in-bound
//    idle times, or a coefficient of variation of the 240 bin counts below 2 (population
//    standard deviation over mean). Stay loaded and keep alive for the whole range, 4 hours.
//  - kHistogram otherwise: head = the lower edge of the bin holding the 5th percentile, tail =
//    the upper edge of the bin holding the 99th percentile (the percentile bin is the first
//    whose cumulative count reaches that share of the in-bound idle times). If head > 0,
//    unload after the call and prewarm at 0.9 head; keep warm until 1.1 tail. Both are
//    measured from the end of the call, so a head in bin 0 means: stay loaded.
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_HYBRID_POLICY_H_
#define FNHOST_SRC_POLICY_HYBRID_POLICY_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {

class HybridPolicy final : public KeepAlivePolicy {
 public:
  static constexpr int kBins = 240;  // 1-minute bins: 4 hours
  static constexpr int kMaxLevels = 1024;
  static constexpr int kMinIdleTimes = 5;
  static constexpr int kHeadPercent = 5;
  static constexpr int kTailPercent = 99;
  static constexpr double kCvThreshold = 2.0;
  static constexpr double kHistogramMargin = 0.10;
  static constexpr double kPredictionMargin = 0.15;
  static constexpr double kSmoothingWeight = 0.5;

  enum class Mode { kRange, kHistogram, kPredicted };
  // What to do after a call, relative to its end.
  struct Plan {
    Mode mode = Mode::kRange;
    absl::Duration prewarm_after = absl::ZeroDuration();  // zero: stay loaded
    absl::Duration keep_until_after = absl::ZeroDuration();
  };

  // The idle times of one instance level and the plan they give.
  class IdleTimes {
   public:
    void Record(absl::Duration idle_time);
    Plan plan() const;  // cached until the next Record

    int64_t in_bounds() const { return in_bounds_; }
    int64_t out_of_bounds() const { return out_of_bounds_; }
    int64_t bin_count(int bin) const { return bins_[bin]; }
    // Coefficient of variation of the bin counts; 0 when the histogram is empty.
    double BinCountCv() const;
    // The bin holding the `percent` percentile of the in-bound idle times; -1 when empty.
    int PercentileBin(int percent) const;
    // The smoothed OOB idle time; zero before the first one.
    absl::Duration predicted() const { return predicted_; }

   private:
    std::array<int32_t, kBins> bins_{};
    int64_t in_bounds_ = 0;
    int64_t out_of_bounds_ = 0;
    double sum_of_squared_counts_ = 0;  // over the bins, kept for the CV
    absl::Duration predicted_ = absl::ZeroDuration();
    mutable std::optional<Plan> plan_;
  };

  explicit HybridPolicy(const KeepAliveOptions& options);

  void OnArrival(absl::Time now) override {}
  void OnIdle(absl::Time now) override { idle_start_ = now; }
  void OnInstanceIdleTime(int level, absl::Duration idle_time) override;
  Window CurrentWindow() const override { return InstanceWindow(1, idle_start_); }
  Window InstanceWindow(int level, absl::Time idle_since) const override;
  bool UnloadWhenEmpty() const override { return unload_when_idle_; }
  std::string Describe() const override;

  // The idle times of instance `level` (1-based); null before the first one and above
  // kMaxLevels.
  const IdleTimes* idle_times(int level) const;
  // The plan for instance `level`.
  Plan PlanFor(int level) const;

 private:
  const bool unload_when_idle_;
  absl::Time idle_start_ = absl::InfinitePast();
  std::vector<IdleTimes> levels_;  // grows with the highest level seen
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_HYBRID_POLICY_H_
