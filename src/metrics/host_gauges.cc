// HostGaugeRecord: see the header.

#include "src/metrics/host_gauges.h"

namespace fnhost::internal {

void HostGaugeRecord::Store(const HostGauges& gauges) {
  budget_bytes_.store(gauges.memory_budget_bytes, std::memory_order_relaxed);
  used_bytes_.store(gauges.memory_used_bytes, std::memory_order_relaxed);
  peak_bytes_.store(gauges.memory_peak_bytes, std::memory_order_relaxed);
  waiting_calls_.store(gauges.memory_waiting_calls, std::memory_order_relaxed);
  reported_.store(true, std::memory_order_relaxed);
}

void HostGaugeRecord::Render(PrometheusTextWriter& writer) const {
  if (!reported_.load(std::memory_order_relaxed)) return;
  struct Family {
    const char* name;
    const char* help;
    const std::atomic<int64_t>& value;
  };
  const Family families[] = {
      {"fnhost_memory_budget_bytes", "The host's memory budget (HostOptions::memory_budget_mb).",
       budget_bytes_},
      {"fnhost_memory_used_bytes",
       "Memory of the budget charged to instances, those being created included.", used_bytes_},
      {"fnhost_memory_peak_bytes", "The most memory of the budget charged at once so far.",
       peak_bytes_},
      {"fnhost_memory_waiting_calls",
       "Calls waiting for memory of the budget, every instance holding it being busy.",
       waiting_calls_},
  };
  for (const Family& family : families) {
    writer.StartFamily(family.name, PromType::kGauge, family.help);
    writer.Sample(family.name, {}, family.value.load(std::memory_order_relaxed));
  }
}

}  // namespace fnhost::internal
