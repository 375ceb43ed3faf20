// SandboxMetrics: the part of MetricsAggregator that shows process-isolated workers'
// sandboxes (fnhost/sandbox_options.h): what is in force, layer by layer, as the latest worker
// of each function reported it (fnhost_sandbox_in_force{function,layer,mechanism}, 1 for the
// mechanism in force), and the system calls the sandbox denied
// (fnhost_sandbox_denials_total{function,syscall}).
//
// Thread-safety: thread-safe. Records live as long as the object (never removed); a layer's
// mechanism changes under a per-function mutex, which only sandbox events and renders take.

#ifndef FNHOST_SRC_METRICS_SANDBOX_METRICS_H_
#define FNHOST_SRC_METRICS_SANDBOX_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "fnhost/metrics.h"
#include "src/metrics/grow_only_map.h"
#include "src/metrics/prometheus_text.h"

namespace fnhost::internal {

class SandboxMetrics {
 public:
  // kSandboxInForce and kSandboxDenied; other kinds are ignored.
  void Record(const WorkerEvent& event);

  // Denials of `function`, all together, and its layers as last reported (layer -> mechanism).
  int64_t Denials(std::string_view function) const;
  std::map<std::string, std::string> InForce(std::string_view function) const;

  // Both families, every function that has reported a sandbox.
  void Render(PrometheusTextWriter& writer) const;

 private:
  struct FunctionSandbox {
    mutable std::mutex mu;
    std::map<std::string, std::string> in_force;  // guarded by mu
    GrowOnlyMap<std::atomic<int64_t>> denials;   // by syscall name
  };
  GrowOnlyMap<FunctionSandbox> functions_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_SANDBOX_METRICS_H_
