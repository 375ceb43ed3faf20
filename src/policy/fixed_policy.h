// FixedPolicy: the state of the practice (AWS Lambda keeps an idle instance 10 minutes, Azure
// Functions 20): every idle instance is evicted once idle for `idle_timeout`; the module stays
// loaded while any instance is warm. With scale_by_memory the timeout is inversely proportional
// to the instance's memory, a size-aware keep-alive (every instance spends the same GB-s).
// Thread-safety: none; the owner serialises calls.

#ifndef FNHOST_SRC_POLICY_FIXED_POLICY_H_
#define FNHOST_SRC_POLICY_FIXED_POLICY_H_

#include <string>

#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {

class FixedPolicy : public KeepAlivePolicy {
 public:
  explicit FixedPolicy(const KeepAliveOptions& options);

  void OnArrival(absl::Time now) override {}
  void OnIdle(absl::Time now) override { idle_start_ = now; }
  // Stay loaded; keep until idle_timeout after the idle start.
  Window CurrentWindow() const override { return InstanceWindow(1, idle_start_); }
  Window InstanceWindow(int level, absl::Time idle_since) const override;
  bool UnloadWhenEmpty() const override { return options_.unload_when_idle; }
  std::string Describe() const override;

 protected:
  const KeepAliveOptions& options() const { return options_; }

 private:
  const KeepAliveOptions options_;
  const absl::Duration idle_timeout_;  // options_.idle_timeout, scaled by memory if asked
  absl::Time idle_start_ = absl::InfinitePast();
};

}  // namespace fnhost

#endif  // FNHOST_SRC_POLICY_FIXED_POLICY_H_
