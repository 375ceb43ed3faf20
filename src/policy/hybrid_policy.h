// HybridPolicy: one function's keep-alive, after the hybrid histogram policy of Shahrad et al.,
// "Serverless in the Wild", USENIX ATC 2020 (Section 4.2), with every instance level priced in
// memory.
//
// A pool keeps one instance per concurrent call. Level k is the instance only the k-th
// concurrent call needs; it is idle from when fewer than k calls run until k run again, and each
// level keeps its own record of those idle times (levels above kMaxLevels keep none). Idle times
// go into 1-minute bins covering 4 hours (the first minute also in 1-second bins); longer ones
// are out of bounds (OOB).
//
// A cold start is priced in idle memory: cold_start_cost_gb_s, which at instance_memory_mb
// equals break_even_idle() of idle time. Each level's keep-alive is the break-even one: the T
// (a bin edge, 0 to 4 hours) that would have cost least over the level's idle times so far, idle
// time kept warm plus the price for each idle time longer than T. Before a level has an idle
// time, T is the price itself (kPrior: the ski-rental rule, never more than twice the best
// choice in hindsight). Above level 1, a level without idle times of its own takes the
// keep-alive of the nearest level below with some (kInherited), and T is at least
// kUpperLevelFloor (or the price, when lower): a level's idle times shorter than that are cheap
// to cover, and learning them from few samples is noisy. Level 1, whose cold starts also load
// the module, pays
// kFirstLevelPriceFactor times the price, and keeps two modes of the paper, which unload the
// module after a call and load it again ahead of the next one:
//  - kPredicted, when at least half of all idle times are OOB: predict the next idle time P by
//    exponential smoothing of the OOB ones (weight kSmoothingWeight on the newest, the forecast
//    of an ARIMA(0,1,1) model), prewarm at 0.85 P and keep warm until 1.15 P.
//  - kHistogram, when the histogram is representative (at least kMinIdleTimes in-bound idle
//    times, coefficient of variation of the 240 bin counts at least kCvThreshold) and its 5th
//    percentile bin (head) is above bin 0: prewarm at 0.9 head, keep warm until 1.1 times the
//    upper edge of the 99th percentile bin.
//  - kBreakEven otherwise (kPrior before any idle time).
// A level's plan is recomputed when its idle-time count has grown by a 64th since the last
// computation (every time below 64), so that a busy level costs O(1) per call, amortised.
// Why these rules, and the measurements behind them: README, "Keep-alive policies on a trace".
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
  static constexpr int kBins = 240;     // 1-minute bins: 4 hours
  static constexpr int kFineBins = 60;  // 1-second bins: the first minute
  static constexpr int kMaxLevels = 1024;
  static constexpr int kMinIdleTimes = 5;
  static constexpr double kFirstLevelPriceFactor = 8.0;
  static constexpr absl::Duration kUpperLevelFloor = absl::Seconds(60);
  static constexpr int kHeadPercent = 5;
  static constexpr int kTailPercent = 99;
  static constexpr double kCvThreshold = 2.0;
  static constexpr double kHistogramMargin = 0.10;
  static constexpr double kPredictionMargin = 0.15;
  static constexpr double kSmoothingWeight = 0.5;

  // kHistogram and kPredicted for level 1 only, kInherited above it only.
  enum class Mode { kPrior, kBreakEven, kInherited, kHistogram, kPredicted };
  // What to do after a call, relative to its end.
  struct Plan {
    Mode mode = Mode::kPrior;
    absl::Duration prewarm_after = absl::ZeroDuration();  // zero: stay loaded
    absl::Duration keep_until_after = absl::ZeroDuration();
  };

  // The idle times of one instance level and the plan they give.
  class IdleTimes {
   public:
    void Record(absl::Duration idle_time);
    // Level 1's plan, a cold start being worth `price` of idle time (the same on every
    // call). Cached; see the class comment.
    Plan plan(absl::Duration price) const;
    // The keep-alive of a level above the first (kBreakEven or kPrior). Cached likewise.
    absl::Duration upper_level_keep_alive(absl::Duration price) const;

    int64_t in_bounds() const { return in_bounds_; }
    int64_t out_of_bounds() const { return out_of_bounds_; }
    int64_t bin_count(int bin) const { return bins_[bin]; }
    // Coefficient of variation of the bin counts; 0 when the histogram is empty.
    double BinCountCv() const;
    // The bin holding the `percent` percentile of the in-bound idle times; -1 when empty.
    int PercentileBin(int percent) const;
    // The smoothed OOB idle time; zero before the first one.
    absl::Duration predicted() const { return predicted_; }
    // The bin edge T minimising the idle time kept warm plus `price` per idle time longer
    // than T (ties: the shortest). Zero when empty.
    absl::Duration BreakEvenKeepAlive(absl::Duration price) const;

   private:
    // Whether the cached plans are still current; clears them otherwise.
    void Refresh() const;

    std::array<int32_t, kBins> bins_{};
    std::array<double, kBins> bin_seconds_{};  // the sum of the idle times in each bin
    std::array<int32_t, kFineBins> fine_bins_{};  // bin 0 again, by the second
    std::array<double, kFineBins> fine_seconds_{};
    int64_t in_bounds_ = 0;
    int64_t out_of_bounds_ = 0;
    double sum_of_squared_counts_ = 0;  // over the bins, kept for the CV
    absl::Duration predicted_ = absl::ZeroDuration();
    mutable std::optional<Plan> plan_;
    mutable std::optional<absl::Duration> upper_keep_alive_;
    mutable int64_t refresh_at_ = 0;  // the idle-time count at which the caches expire
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
  // The idle time a cold start is worth at levels 2 and up: cold_start_cost_gb_s over
  // instance_memory_mb.
  absl::Duration break_even_idle() const { return break_even_idle_; }

 private:
  const bool unload_when_idle_;
  const absl::Duration break_even_idle_;
  const absl::Duration first_level_price_;
  const absl::Duration upper_level_floor_;  // kUpperLevelFloor, at most break_even_idle_
  absl::Time idle_start_ = absl::InfinitePast();
  std::vector<IdleTimes> levels_;  // grows with the highest level seen
  int highest_with_data_ = 0;      // the highest level with an idle time
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_HYBRID_POLICY_H_
