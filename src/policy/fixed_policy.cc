// FixedPolicy: see the header.

#include "src/policy/fixed_policy.h"

namespace fnhost {

namespace {

absl::Duration IdleTimeout(const KeepAliveOptions& options) {
  if (!options.scale_by_memory) return options.idle_timeout;
  // A trace's memory may be 0 (validated options are positive): idle time is then free.
  if (!(options.instance_memory_mb > 0)) return absl::InfiniteDuration();
  return options.idle_timeout * (kReferenceInstanceMemoryMb / options.instance_memory_mb);
}

}  // namespace

FixedPolicy::FixedPolicy(const KeepAliveOptions& options)
    : options_(options), idle_timeout_(IdleTimeout(options)) {}

KeepAlivePolicy::Window FixedPolicy::InstanceWindow(int level, absl::Time idle_since) const {
  return Window{absl::InfinitePast(), idle_since + idle_timeout_};
}

std::string FixedPolicy::Describe() const { return FormatPolicySpec(options_); }

}  // namespace fnhost
