#include "src/runtime/service_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"
#include "src/runtime/builtin_kv.h"
#include "src/runtime/builtin_metrics.h"

namespace fnhost::internal {
namespace {

bool IsServiceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

ServiceRegistry::ServiceRegistry(uint64_t kv_max_bytes) {
  Add(KvService(kv_max_bytes)).IgnoreError();
  Add(MetricsService()).IgnoreError();
}

ServiceRegistry::~ServiceRegistry() = default;

absl::Status ServiceRegistry::Register(ServiceSpec spec) {
  const std::string what = absl::StrCat("service '", spec.name, "'");
  if (!IsServiceName(spec.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": a service name has 1 to 64 characters of [a-z0-9_.-]"));
  }
  if (spec.version == 0) return absl::InvalidArgumentError(what + ": version must be at least 1");
  if (spec.typed == nullptr && !spec.bytes) {
    return absl::InvalidArgumentError(what + ": it has neither a typed form nor a bytes form");
  }
  auto service = std::make_shared<HostService>();
  service->name = spec.name;
  service->version = spec.version;
  service->has_typed = spec.typed != nullptr;
  service->has_bytes = static_cast<bool>(spec.bytes);
  service->bind = [spec = std::move(spec)](std::string_view, MetricsSink*) {
    return BoundService{spec.typed, spec.typed_data, spec.bytes, nullptr};
  };
  return Add(std::move(service));
}

absl::Status ServiceRegistry::Add(std::shared_ptr<const HostService> service) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = services_.try_emplace(service->name, service);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("service '", service->name, "' is already registered"));
  }
  return absl::OkStatus();
}

std::shared_ptr<const HostService> ServiceRegistry::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(AsAbsl(name));
  return it == services_.end() ? nullptr : it->second;
}

std::vector<std::string> ServiceRegistry::Names() const {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, service] : services_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace fnhost::internal
