// LatencyHistogram: bucket placement in exact Duration arithmetic, quantile estimation.

#include "src/metrics/histogram.h"

#include <algorithm>

namespace fnhost::internal {
namespace {

// The bounds as Durations, so that placement compares exactly (a sample equal to a bound
// belongs to that bound's bucket, Prometheus' `le`) with no floating-point rounding.
constexpr std::array<absl::Duration, kLatencyBucketCount> kBounds = [] {
  std::array<absl::Duration, kLatencyBucketCount> bounds{};
  for (size_t i = 0; i < kLatencyBucketCount; ++i) {
    bounds[i] = absl::Nanoseconds(static_cast<int64_t>(kLatencyBucketsSeconds[i] * 1e9 + 0.5));
  }
  return bounds;
}();

constexpr absl::Duration kMaxSample = absl::Hours(24);

double BoundNanos(size_t i) { return absl::ToDoubleNanoseconds(kBounds[i]); }

}  // namespace

void LatencyHistogram::Observe(absl::Duration latency) {
  latency = std::clamp(latency, absl::ZeroDuration(), kMaxSample);
  const size_t bucket = std::lower_bound(kBounds.begin(), kBounds.end(), latency) - kBounds.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(absl::ToInt64Nanoseconds(latency), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < counts_.size(); ++i) {
    snapshot.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  snapshot.sum_nanos = sum_nanos_.load(std::memory_order_relaxed);
  return snapshot;
}

int64_t LatencyHistogram::Snapshot::Count() const {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return total;
}

absl::Duration LatencyHistogram::Snapshot::Quantile(double q) const {
  const int64_t total = Count();
  if (total == 0) return absl::ZeroDuration();
  if (!(q > 0.0)) q = 0.0;
  if (q > 1.0) q = 1.0;
  const double rank = q * static_cast<double>(total);
  // The first non-empty bucket whose cumulative count reaches the rank.
  int64_t below = 0;
  for (size_t i = 0; i < kLatencyBucketCount; ++i) {
    const int64_t cumulative = below + counts[i];
    if (counts[i] > 0 && static_cast<double>(cumulative) >= rank) {
      const double lower = i == 0 ? 0.0 : BoundNanos(i - 1);
      const double upper = BoundNanos(i);
      const double inside = rank - static_cast<double>(below);
      return absl::Nanoseconds(lower + (upper - lower) * inside / static_cast<double>(counts[i]));
    }
    below = cumulative;
  }
  return kBounds.back();
}

}  // namespace fnhost::internal
