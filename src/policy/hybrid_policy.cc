// HybridPolicy: see the header for the algorithm and the choices made.

#include "src/policy/hybrid_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fnhost {
namespace {

constexpr absl::Duration kBinWidth = absl::Minutes(1);


}  // namespace

void HybridPolicy::IdleTimes::Record(absl::Duration idle_time) {
  plan_.reset();
  idle_time = std::max(idle_time, absl::ZeroDuration());
  absl::Duration unused;
  const int64_t bin = absl::IDivDuration(idle_time, kBinWidth, &unused);
  if (bin < kBins) {
    sum_of_squared_counts_ += 2.0 * bins_[bin] + 1.0;
    ++bins_[bin];
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

HybridPolicy::Plan HybridPolicy::IdleTimes::plan() const {
  if (plan_.has_value()) return *plan_;
  Plan plan;
  if (out_of_bounds_ > 0 && 2 * out_of_bounds_ >= in_bounds_ + out_of_bounds_) {
    plan.mode = Mode::kPredicted;
    plan.prewarm_after = (1.0 - kPredictionMargin) * predicted_;
    plan.keep_until_after = (1.0 + kPredictionMargin) * predicted_;
  } else if (in_bounds_ < kMinIdleTimes || BinCountCv() < kCvThreshold) {
    plan.mode = Mode::kRange;
    plan.keep_until_after = kBins * kBinWidth;
  } else {
    plan.mode = Mode::kHistogram;
    plan.prewarm_after = (1.0 - kHistogramMargin) * (PercentileBin(kHeadPercent) * kBinWidth);
    plan.keep_until_after =
        (1.0 + kHistogramMargin) * ((PercentileBin(kTailPercent) + 1) * kBinWidth);
  }
  plan_ = plan;
  return plan;
}

HybridPolicy::HybridPolicy(const KeepAliveOptions& options)
    : unload_when_idle_(options.unload_when_idle) {}

void HybridPolicy::OnInstanceIdleTime(int level, absl::Duration idle_time) {
  if (level < 1 || level > kMaxLevels) return;
  if (levels_.size() < static_cast<size_t>(level)) levels_.resize(level);
  levels_[level - 1].Record(idle_time);
}

const HybridPolicy::IdleTimes* HybridPolicy::idle_times(int level) const {
  if (level < 1 || static_cast<size_t>(level) > levels_.size()) return nullptr;
  return &levels_[level - 1];
}

HybridPolicy::Plan HybridPolicy::PlanFor(int level) const {
  const IdleTimes* times = idle_times(level);
  return times != nullptr ? times->plan() : IdleTimes().plan();
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
  const Plan plan = first.plan();
  const std::string samples = absl::StrCat(first.in_bounds() + first.out_of_bounds(),
                                           " idle times, ", first.out_of_bounds(),
                                           " out of bounds");
  const std::string name = unload_when_idle_ ? "hybrid" : "hybrid,keep-loaded";
  switch (plan.mode) {
    case Mode::kRange:
      return absl::StrCat(name, "(range: keep ", absl::FormatDuration(plan.keep_until_after),
                          "; ", samples, ")");
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
