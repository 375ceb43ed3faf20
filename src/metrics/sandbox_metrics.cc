#include "src/metrics/sandbox_metrics.h"

namespace fnhost::internal {

void SandboxMetrics::Record(const WorkerEvent& event) {
  if (event.kind == WorkerEventKind::kSandboxDenied) {
    FunctionSandbox& record = functions_.GetOrCreate(event.function);
    record.denials.GetOrCreate(event.syscall.empty() ? "unknown" : event.syscall)
        .fetch_add(static_cast<int64_t>(event.count), std::memory_order_relaxed);
    return;
  }
  if (event.kind != WorkerEventKind::kSandboxInForce) return;
  FunctionSandbox& record = functions_.GetOrCreate(event.function);
  std::lock_guard<std::mutex> lock(record.mu);
  record.in_force.clear();
  for (const SandboxLayerInForce& layer : event.sandbox_layers) {
    record.in_force[std::string(layer.layer)] = std::string(layer.mechanism);
  }
}

int64_t SandboxMetrics::Denials(std::string_view function) const {
  const FunctionSandbox* record = functions_.Find(function);
  if (record == nullptr) return 0;
  int64_t total = 0;
  for (const auto& [syscall, count] : record->denials.Sorted()) {
    total += count->load(std::memory_order_relaxed);
  }
  return total;
}

std::map<std::string, std::string> SandboxMetrics::InForce(std::string_view function) const {
  const FunctionSandbox* record = functions_.Find(function);
  if (record == nullptr) return {};
  std::lock_guard<std::mutex> lock(record->mu);
  return record->in_force;
}

void SandboxMetrics::Render(PrometheusTextWriter& writer) const {
  const auto functions = functions_.Sorted();
  writer.StartFamily("fnhost_sandbox_in_force", PromType::kGauge,
                     "Process isolation: 1 for the mechanism that enforces each layer of the "
                     "function's worker sandbox (none: not enforced), as its latest worker "
                     "reported.");
  for (const auto& [function, record] : functions) {
    for (const auto& [layer, mechanism] : InForce(function)) {
      writer.Sample("fnhost_sandbox_in_force",
                    {{"function", function}, {"layer", layer}, {"mechanism", mechanism}},
                    int64_t{1});
    }
  }
  writer.StartFamily("fnhost_sandbox_denials_total", PromType::kCounter,
                     "Process isolation: system calls the worker sandbox denied, by call.");
  for (const auto& [function, record] : functions) {
    for (const auto& [syscall, count] : record->denials.Sorted()) {
      writer.Sample("fnhost_sandbox_denials_total", {{"function", function}, {"syscall", syscall}},
                    count->load(std::memory_order_relaxed));
    }
  }
}

}  // namespace fnhost::internal
