// LatencyHistogram: a fixed-bucket latency histogram (bounds kLatencyBucketsSeconds) that many
// threads record into with relaxed atomic adds and no allocation.
// Thread-safety: Observe and Read may run concurrently from any threads. A Read taken while
// others Observe is not an atomic cut: its sum may lag or lead its counts by a few samples.

#ifndef FNHOST_SRC_METRICS_HISTOGRAM_H_
#define FNHOST_SRC_METRICS_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "absl/time/time.h"
#include "fnhost/metrics.h"

namespace fnhost::internal {

inline constexpr size_t kLatencyBucketCount = std::size(kLatencyBucketsSeconds);

class LatencyHistogram {
 public:
  // The histogram as read at one moment.
  struct Snapshot {
    // counts[i] is the number of samples in (bound[i-1], bound[i]] (bound[-1] = 0); the last
    // entry counts the samples above the highest bound (the +Inf bucket). Not cumulative.
    std::array<int64_t, kLatencyBucketCount + 1> counts{};
    int64_t sum_nanos = 0;

    int64_t Count() const;
    // Adds another histogram's samples to this one.
    void Merge(const Snapshot& other);
    // Estimates the q-quantile by linear interpolation inside its bucket, as Prometheus'
    // histogram_quantile does; q is clamped to [0, 1] (NaN counts as 0). Samples in the +Inf
    // bucket are reported as the highest finite bound. Zero when there are no samples.
    absl::Duration Quantile(double q) const;
  };

  // Records one sample. Negative durations count as zero; durations are capped at 24 hours
  // so that an infinite or garbage duration lands in +Inf without overflowing the sum.
  void Observe(absl::Duration latency);

  Snapshot Read() const;

 private:
  std::array<std::atomic<int64_t>, kLatencyBucketCount + 1> counts_{};
  std::atomic<int64_t> sum_nanos_{0};
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_HISTOGRAM_H_
