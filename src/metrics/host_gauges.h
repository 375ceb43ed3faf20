// HostGaugeRecord: the host-wide gauges MetricsAggregator keeps (HostGauges: the memory
// budget) and renders as fnhost_memory_* families, once a host has reported them.
// Thread-safety: Store and Render may run at once from any threads (relaxed atomics); a render
// sees each gauge at some recent value.

#ifndef FNHOST_SRC_METRICS_HOST_GAUGES_H_
#define FNHOST_SRC_METRICS_HOST_GAUGES_H_

#include <atomic>
#include <cstdint>

#include "fnhost/metrics.h"
#include "src/metrics/prometheus_text.h"

namespace fnhost::internal {

class HostGaugeRecord {
 public:
  void Store(const HostGauges& gauges);
  // Writes nothing before the first Store: a host without a budget reports none.
  void Render(PrometheusTextWriter& writer) const;

 private:
  std::atomic<bool> reported_{false};
  std::atomic<int64_t> budget_bytes_{0};
  std::atomic<int64_t> used_bytes_{0};
  std::atomic<int64_t> peak_bytes_{0};
  std::atomic<int64_t> waiting_calls_{0};
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_HOST_GAUGES_H_
