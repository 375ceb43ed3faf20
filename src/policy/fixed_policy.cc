// FixedPolicy: see the header.

#include "src/policy/fixed_policy.h"

namespace fnhost {

FixedPolicy::FixedPolicy(const KeepAliveOptions& options) : options_(options) {}

KeepAlivePolicy::Window FixedPolicy::InstanceWindow(int level, absl::Time idle_since) const {
  return Window{absl::InfinitePast(), idle_since + options_.idle_timeout};
}

std::string FixedPolicy::Describe() const { return FormatPolicySpec(options_); }

}  // namespace fnhost
