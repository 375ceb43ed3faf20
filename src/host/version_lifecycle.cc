#include "src/host/version_lifecycle.h"

#include <utility>

namespace fnhost::internal {

VersionLifecycle::VersionLifecycle(const HostContext& host, const FunctionSpec& spec)
    : host_(host),
      spec_(spec),
      stable_(std::make_unique<Version>(host_, spec_, spec_.module_path)) {}

void VersionLifecycle::Retire(std::unique_ptr<Version> version) {
  version->pool_.retired = true;
  retired_.push_back(std::move(version));
}

void VersionLifecycle::Install(std::unique_ptr<Version> staged, bool as_canary) {
  std::unique_ptr<Version>& role = as_canary ? canary_ : stable_;
  if (role != nullptr) Retire(std::move(role));
  role = std::move(staged);
}

void VersionLifecycle::PromoteCanary() {
  Retire(std::move(stable_));
  stable_ = std::move(canary_);
}

void VersionLifecycle::RetireCanary() { Retire(std::move(canary_)); }

void VersionLifecycle::RefreshStable() {
  auto fresh =
      std::make_unique<Version>(host_, spec_, stable_->module_path(), stable_->hints());
  Retire(std::exchange(stable_, std::move(fresh)));
}

void VersionLifecycle::RetireAll() {
  if (canary_ != nullptr) Retire(std::move(canary_));
  Retire(std::exchange(stable_, std::make_unique<Version>(host_, spec_, spec_.module_path)));
  stable_->pool_.retired = true;
  all_retired_ = true;
}

bool VersionLifecycle::IsDrained(const Version& version, int destroying_now) {
  const Version::PoolRecord& pool = version.pool_;
  return pool.inflight == 0 && pool.starting == 0 && pool.instances.empty() &&
         pool.destroying == destroying_now && pool.pins == 0;
}

void VersionLifecycle::TakeDrained(std::vector<std::unique_ptr<Version>>* out) {
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (IsDrained(**it)) {
      out->push_back(std::move(*it));
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace fnhost::internal
