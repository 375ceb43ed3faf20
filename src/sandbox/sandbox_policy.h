// SandboxPolicy: what a worker of one function may do once its sandbox is in force, as the
// function's FunctionSpec states it: the public SandboxOptions (fnhost/sandbox_options.h
// describes the levels and every field). ValidateSandboxPolicy checks it once (at
// registration) and resolves the syscall names, so that a worker applying it cannot fail on a
// typo after it has forked.
//
// Thread-safety: plain values; ValidateSandboxPolicy is thread-safe.

#ifndef FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_
#define FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/sandbox_options.h"

namespace fnhost::sandbox {

using SandboxPolicy = ::fnhost::SandboxOptions;
using SandboxLevel = SandboxPolicy::Level;
// What a denied system call does to the worker; either way the attempt is counted (see
// denial_counters.h).
using DenialAction = SandboxPolicy::OnDenial;

// "off", "basic", "strict".
std::string_view LevelName(SandboxLevel level);
absl::StatusOr<SandboxLevel> ParseLevel(std::string_view name);

// A checked policy with its syscall names resolved to this architecture's numbers.
struct ValidatedPolicy {
  SandboxPolicy policy;
  std::vector<int> allow_syscall_numbers;  // in the order of policy.allow_syscalls
};

// Checks `policy` for `function`: every allow_syscalls name is a system call here, and every
// path is absolute. INVALID_ARGUMENT naming the function and the bad entry otherwise.
absl::StatusOr<ValidatedPolicy> ValidateSandboxPolicy(std::string_view function,
                                                      const SandboxPolicy& policy);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_SANDBOX_POLICY_H_
