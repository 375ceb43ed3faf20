// ServiceRegistry: the host services a Host offers (fnhost/host_service.h): the embedder's,
// registered with Host::RegisterService, and the built-in `kv` and `metrics`
// (fnhost/builtin_services.h, builtin_kv.h and builtin_metrics.h). A service is bound to each
// function that is granted it (Bind): the forms that function's modules get, which for the
// built-in metrics hold a table of the function's own.
//
// Services stay registered for the registry's life, so what a state obtained from one never
// goes away under it.
//
// Thread-safety: thread-safe. Register, Find and Names may race; a HostService and what Bind
// returns are immutable and shared.

#ifndef FNHOST_SRC_RUNTIME_SERVICE_REGISTRY_H_
#define FNHOST_SRC_RUNTIME_SERVICE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "fnhost/host_service.h"
#include "fnhost/metrics.h"

namespace fnhost::internal {

// A service's forms as one function gets them.
struct BoundService {
  const void* typed = nullptr;
  void* typed_data = nullptr;
  ServiceHandler bytes;        // empty: no bytes form
  std::shared_ptr<void> keep;  // what typed_data points to, alive as long as the binding
};

struct HostService {
  std::string name;
  uint32_t version = 1;
  bool has_typed = false;
  bool has_bytes = false;
  // The forms for `function`, whose module metrics go to `sink` (null: dropped).
  std::function<BoundService(std::string_view function, MetricsSink* sink)> bind;
};

class ServiceRegistry {
 public:
  // With the built-in services; `kv_max_bytes` caps the kv store.
  explicit ServiceRegistry(uint64_t kv_max_bytes);
  ~ServiceRegistry();

  ServiceRegistry(const ServiceRegistry&) = delete;
  ServiceRegistry& operator=(const ServiceRegistry&) = delete;

  // Adds an embedder's service. INVALID_ARGUMENT for a bad name, version 0 or no form at all;
  // ALREADY_EXISTS for a name taken.
  absl::Status Register(ServiceSpec spec);
  // The service named `name`, or null.
  std::shared_ptr<const HostService> Find(std::string_view name) const;
  // Every service's name, sorted.
  std::vector<std::string> Names() const;

 private:
  absl::Status Add(std::shared_ptr<const HostService> service);

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const HostService>> services_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_SERVICE_REGISTRY_H_
