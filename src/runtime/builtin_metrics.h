// The built-in `metrics` service (fnhost/builtin_services.h): a module defines counters, gauges
// and histograms at init and bumps them by id in calls. Each function granted it gets a table
// of its own (FunctionMetrics); a definition goes to the host's metrics sink
// (MetricsSink::DefineModuleMetric), which returns the object its bumps go to, so the metrics
// appear with the function's label (MetricsAggregator renders them as fnhost_module_<name>).
// Defining the same name and kind again returns the same id: a restored state or a forked
// worker simply defines again.
//
// Thread-safety: thread-safe. Define takes a mutex; bumps read the table without a lock
// (entries are published with a release store of the count) and never block.

#ifndef FNHOST_SRC_RUNTIME_BUILTIN_METRICS_H_
#define FNHOST_SRC_RUNTIME_BUILTIN_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fnhost/host_service.h"
#include "fnhost/metrics.h"
#include "src/runtime/service_registry.h"

namespace fnhost::internal {

class FunctionMetrics {
 public:
  // Metrics one function may define.
  static constexpr uint32_t kMaxMetrics = 256;

  // `sink` may be null: the metrics are defined and their bumps dropped.
  FunctionMetrics(std::string function, MetricsSink* sink)
      : function_(std::move(function)), sink_(sink) {}

  // As fnhost_host_metrics_v1: status codes of abi.h.
  int32_t Define(uint32_t kind, std::string_view name, std::string_view help,
                 std::span<const double> bounds, uint32_t* id);
  int32_t Add(uint32_t id, int64_t delta) const;
  int32_t Set(uint32_t id, int64_t value) const;
  int32_t Record(uint32_t id, double value) const;

  // The bytes form.
  absl::Status Call(const ServiceCall& call, std::string* response);

 private:
  struct Entry {
    uint32_t kind = 0;
    ModuleMetric* metric = nullptr;
  };
  // The entry of `id` if it is defined with `kind`; else the status code.
  int32_t Lookup(uint32_t id, uint32_t kind, const Entry** entry) const;

  const std::string function_;
  MetricsSink* const sink_;
  std::mutex define_mu_;
  std::array<std::string, kMaxMetrics> names_;  // guarded by define_mu_
  std::array<Entry, kMaxMetrics> entries_;      // entries_[id - 1], published by count_
  std::atomic<uint32_t> count_{0};
};

std::shared_ptr<const HostService> MetricsService();

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_BUILTIN_METRICS_H_
