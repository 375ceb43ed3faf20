// HybridPolicy: see the header for the algorithm and the choices made.

#include "src/policy/hybrid_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fnhost {
namespace {

constexpr absl::Duration kBinWidth = absl::Minutes(1);
constexpr absl::Duration kFineBinWidth = absl::Seconds(1);
static_assert(HybridPolicy::kFineBins == 60);
// A level's plans are recomputed when its idle-time count grew by this fraction.
constexpr int64_t kRefreshDivisor = 64;

absl::Duration BreakEvenIdle(const KeepAliveOptions& options) {
  double seconds = options.cold_start_cost_gb_s / (options.instance_memory_mb / 1024);
  // Options are validated positive, but a trace's memory may be 0: then idle time is free.
  // The cap, about 3 years, far above any idle time the histogram holds, keeps the cost sums
  // finite.
  if (!(seconds >= 0)) seconds = 0;
  return absl::Seconds(std::min(seconds, 1e8));
}

}  // namespace

void HybridPolicy::IdleTimes::Record(absl::Duration idle_time) {
  idle_time = std::max(idle_time, absl::ZeroDuration());
  absl::Duration unused;
  const int64_t bin = absl::IDivDuration(idle_time, kBinWidth, &unused);
  if (bin == 0) {
    const int64_t fine = absl::IDivDuration(idle_time, kFineBinWidth, &unused);
    ++fine_bins_[fine];
    fine_seconds_[fine] += absl::ToDoubleSeconds(idle_time);
  }
  if (bin < kBins) {
    sum_of_squared_counts_ += 2.0 * bins_[bin] + 1.0;
    ++bins_[bin];
    bin_seconds_[bin] += absl::ToDoubleSeconds(idle_time);
    ++in_bounds_;
    return;
  }
  predicted_ = out_of_bounds_ == 0
                   ? idle_time
                   : kSmoothingWeight * idle_time + (1.0 - kSmoothingWeight) * predicted_;
  ++out_of_bounds_;
}

double HybridPolicy::IdleTimes::BinCountCv() const {
  if (in_bounds_ == 0) return 0;
  // With n samples and S the sum of squared counts over B bins:
  // mean = n / B, variance = S / B - mean^2, so cv = sqrt(B S - n^2) / n.
  const double n = static_cast<double>(in_bounds_);
  return std::sqrt(std::max(0.0, kBins * sum_of_squared_counts_ - n * n)) / n;
}

int HybridPolicy::IdleTimes::PercentileBin(int percent) const {
  if (in_bounds_ == 0) return -1;
  int64_t cumulative = 0;
  for (int bin = 0; bin < kBins; ++bin) {
    cumulative += bins_[bin];
    if (cumulative * 100 >= percent * in_bounds_) return bin;
  }
  return kBins - 1;  // not reached: the last bin's cumulative count is in_bounds_
}

absl::Duration HybridPolicy::IdleTimes::BreakEvenKeepAlive(absl::Duration price) const {
  // cost(T) = (idle seconds below T) + (T + price) * (idle times at or above T), for T on
  // the edges of the fine bins (the first minute) and then of the minute bins; OOB idle times
  // are above every edge. In plain seconds: this runs at every refresh of a busy level.
  const double price_seconds = absl::ToDoubleSeconds(price);
  const double fine_width = absl::ToDoubleSeconds(kFineBinWidth);
  const double width = absl::ToDoubleSeconds(kBinWidth);
  double below_seconds = 0;
  int64_t above = in_bounds_ + out_of_bounds_;
  double best_cost = price_seconds * static_cast<double>(above);
  double best = 0;
  auto consider = [&](double edge) {
    const double cost = below_seconds + (edge + price_seconds) * static_cast<double>(above);
    if (cost < best_cost) {
      best_cost = cost;
      best = edge;
    }
  };
  for (int edge = 1; edge <= kFineBins; ++edge) {
    below_seconds += fine_seconds_[edge - 1];
    above -= fine_bins_[edge - 1];
    consider(edge * fine_width);
  }
  for (int edge = 2; edge <= kBins && above > 0; ++edge) {
    below_seconds += bin_seconds_[edge - 1];
    above -= bins_[edge - 1];
    consider(edge * width);
  }
  return absl::Seconds(best);
}

void HybridPolicy::IdleTimes::Refresh() const {
  const int64_t count = in_bounds_ + out_of_bounds_;
  if (count < refresh_at_) return;
  plan_.reset();
  upper_keep_alive_.reset();
  refresh_at_ = count + std::max<int64_t>(1, count / kRefreshDivisor);
}

HybridPolicy::Plan HybridPolicy::IdleTimes::plan(absl::Duration price) const {
  Refresh();
  if (plan_.has_value()) return *plan_;
  Plan plan;
  if (in_bounds_ + out_of_bounds_ == 0) {
    plan = Plan{Mode::kPrior, absl::ZeroDuration(), std::min(price, kBins * kBinWidth)};
  } else if (out_of_bounds_ > 0 && 2 * out_of_bounds_ >= in_bounds_ + out_of_bounds_) {
    plan.mode = Mode::kPredicted;
    plan.prewarm_after = (1.0 - kPredictionMargin) * predicted_;
    plan.keep_until_after = (1.0 + kPredictionMargin) * predicted_;
  } else if (const int head = PercentileBin(kHeadPercent);
             head > 0 && in_bounds_ >= kMinIdleTimes && BinCountCv() >= kCvThreshold) {
    plan.mode = Mode::kHistogram;
    plan.prewarm_after = (1.0 - kHistogramMargin) * (head * kBinWidth);
    plan.keep_until_after =
        (1.0 + kHistogramMargin) * ((PercentileBin(kTailPercent) + 1) * kBinWidth);
  } else {
    plan = Plan{Mode::kBreakEven, absl::ZeroDuration(), BreakEvenKeepAlive(price)};
  }
  plan_ = plan;
  return plan;
}

absl::Duration HybridPolicy::IdleTimes::upper_level_keep_alive(absl::Duration price) const {
  Refresh();
  if (!upper_keep_alive_.has_value()) {
    upper_keep_alive_ = in_bounds_ + out_of_bounds_ == 0 ? std::min(price, kBins * kBinWidth)
                                                         : BreakEvenKeepAlive(price);
  }
  return *upper_keep_alive_;
}

HybridPolicy::HybridPolicy(const KeepAliveOptions& options)
    : unload_when_idle_(options.unload_when_idle),
      break_even_idle_(BreakEvenIdle(options)),
      first_level_price_(kFirstLevelPriceFactor * break_even_idle_),
      upper_level_floor_(std::min(kUpperLevelFloor, break_even_idle_)) {}

void HybridPolicy::OnInstanceIdleTime(int level, absl::Duration idle_time) {
  if (level < 1 || level > kMaxLevels) return;
  if (levels_.size() < static_cast<size_t>(level)) levels_.resize(level);
  levels_[level - 1].Record(idle_time);
  highest_with_data_ = std::max(highest_with_data_, level);
}

const HybridPolicy::IdleTimes* HybridPolicy::idle_times(int level) const {
  if (level < 1 || static_cast<size_t>(level) > levels_.size()) return nullptr;
  return &levels_[level - 1];
}

HybridPolicy::Plan HybridPolicy::PlanFor(int level) const {
  const absl::Duration range = kBins * kBinWidth;
  if (level <= 1) {
    const IdleTimes* first = idle_times(1);
    return first != nullptr ? first->plan(first_level_price_)
                            : Plan{Mode::kPrior, absl::ZeroDuration(),
                                   std::min(first_level_price_, range)};
  }
  // The nearest level at or below `level` with an idle time gives the keep-alive (level 1's
  // idle times priced as an upper level's), at least the floor; the price itself when none
  // has one.
  for (int below = std::min(level, highest_with_data_); below >= 1; --below) {
    const IdleTimes* times = idle_times(below);
    if (times == nullptr || times->in_bounds() + times->out_of_bounds() == 0) continue;
    return Plan{below == level ? Mode::kBreakEven : Mode::kInherited, absl::ZeroDuration(),
                std::max(upper_level_floor_, times->upper_level_keep_alive(break_even_idle_))};
  }
  return Plan{Mode::kPrior, absl::ZeroDuration(), std::min(break_even_idle_, range)};
}

KeepAlivePolicy::Window HybridPolicy::InstanceWindow(int level, absl::Time idle_since) const {
  const Plan plan = PlanFor(level);
  Window window;
  if (plan.prewarm_after > absl::ZeroDuration()) window.prewarm_at = idle_since + plan.prewarm_after;
  window.keep_until = idle_since + plan.keep_until_after;
  return window;
}

std::string HybridPolicy::Describe() const {
  const IdleTimes first = idle_times(1) != nullptr ? *idle_times(1) : IdleTimes();
  const Plan plan = PlanFor(1);
  const std::string samples = absl::StrCat(first.in_bounds() + first.out_of_bounds(),
                                           " idle times, ", first.out_of_bounds(),
                                           " out of bounds");
  const std::string name = unload_when_idle_ ? "hybrid" : "hybrid,keep-loaded";
  switch (plan.mode) {
    case Mode::kBreakEven:
    case Mode::kPrior:
    case Mode::kInherited:  // not level 1's
      return absl::StrCat(name, "(", plan.mode == Mode::kPrior ? "prior" : "break-even",
                          ": keep ", absl::FormatDuration(plan.keep_until_after), "; ", samples,
                          ")");
    case Mode::kHistogram:
      return absl::StrCat(name, "(histogram: prewarm ", absl::FormatDuration(plan.prewarm_after),
                          ", keep until ", absl::FormatDuration(plan.keep_until_after), "; cv ",
                          absl::StrFormat("%.2f", first.BinCountCv()), ", ", samples, ")");
    case Mode::kPredicted:
      return absl::StrCat(name, "(predicted ", absl::FormatDuration(first.predicted()),
                          ": prewarm ", absl::FormatDuration(plan.prewarm_after), ", keep until ",
                          absl::FormatDuration(plan.keep_until_after), "; ", samples, ")");
  }
  return name;
}

}  // namespace fnhost
