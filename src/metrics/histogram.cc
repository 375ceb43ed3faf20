// LatencyHistogram: bucket placement in exact Duration arithmetic, quantile estimation.

#include "src/metrics/histogram.h"

#include <algorithm>

namespace fnhost::internal {
namespace {

// The bounds in whole nanoseconds, so that placement compares integers exactly (a sample equal
// to a bound belongs to that bound's bucket, Prometheus' `le`) with no floating-point rounding.
constexpr std::array<int64_t, kLatencyBucketCount> kBoundNanos = [] {
  std::array<int64_t, kLatencyBucketCount> bounds{};
  for (size_t i = 0; i < kLatencyBucketCount; ++i) {
    bounds[i] = static_cast<int64_t>(kLatencyBucketsSeconds[i] * 1e9 + 0.5);
  }
  return bounds;
}();

constexpr int64_t kMaxSampleNanos = int64_t{24} * 3600 * 1000 * 1000 * 1000;

double BoundNanos(size_t i) { return static_cast<double>(kBoundNanos[i]); }

}  // namespace

// On the warm path of every call with metrics on: integer nanoseconds and a linear scan from
// the lowest bucket, because warm calls land in the first few buckets (a binary search over
// Durations cost ~250 instructions per sample; this costs a few dozen).
void LatencyHistogram::Observe(absl::Duration latency) {
  // Whole nanoseconds, rounded down for the sum (saturating for infinite durations)...
  const int64_t nanos =
      std::clamp<int64_t>(absl::ToInt64Nanoseconds(latency), 0, kMaxSampleNanos);
  // ...and up for placement, so that a sub-nanosecond excess over a bound is still above it.
  const int64_t placed = nanos + (absl::Nanoseconds(nanos) < latency ? 1 : 0);
  size_t bucket = 0;
  while (bucket < kLatencyBucketCount && placed > kBoundNanos[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(nanos, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < counts_.size(); ++i) {
    snapshot.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  snapshot.sum_nanos = sum_nanos_.load(std::memory_order_relaxed);
  return snapshot;
}

void LatencyHistogram::Snapshot::Merge(const Snapshot& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum_nanos += other.sum_nanos;
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
  return absl::Nanoseconds(kBoundNanos.back());
}

}  // namespace fnhost::internal
