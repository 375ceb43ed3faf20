// ModuleMetrics: the metrics that modules define through the built-in `metrics` service, as
// MetricsAggregator keeps and renders them: one Prometheus family per name
// (fnhost_module_<name>, counters with a _total suffix), one series per function (the
// `function` label). A name is one kind for every function: a definition of another kind is
// refused. A histogram's buckets are those of its first definition in each function; without
// bounds, Prometheus' defaults (5 ms to 10 s).
//
// Thread-safety: thread-safe. Define and Render take one mutex; bumps on a defined metric are
// relaxed atomic operations.

#ifndef FNHOST_SRC_METRICS_MODULE_METRICS_H_
#define FNHOST_SRC_METRICS_MODULE_METRICS_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fnhost/metrics.h"
#include "src/metrics/grow_only_map.h"
#include "src/metrics/prometheus_text.h"

namespace fnhost::internal {

class ModuleMetrics {
 public:
  // The series of `definition`'s function and name, created on first sight; null when the
  // name is defined with another kind.
  ModuleMetric* Define(const ModuleMetricDefinition& definition);
  void Render(PrometheusTextWriter& writer) const;

 private:
  class Series final : public ModuleMetric {
   public:
    explicit Series(std::string_view) {}
    void Add(int64_t delta) override { value_.fetch_add(delta, std::memory_order_relaxed); }
    void Set(int64_t value) override { value_.store(value, std::memory_order_relaxed); }
    void Record(double value) override;

    // Set once, when the series is created under the define lock.
    std::vector<double> bounds;
    std::unique_ptr<std::atomic<int64_t>[]> counts;  // bounds.size() + 1 buckets
    std::atomic<int64_t> value_{0};
    std::atomic<double> sum_{0};
  };
  struct Family {
    explicit Family(std::string_view) {}
    ModuleMetricDefinition::Kind kind = ModuleMetricDefinition::Kind::kCounter;
    std::string help;
    GrowOnlyMap<Series> series;  // by function
  };

  mutable std::mutex mu_;  // definitions and rendering
  GrowOnlyMap<Family> families_;  // by the module's name of the metric
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_MODULE_METRICS_H_
