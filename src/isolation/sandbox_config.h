// A function's sandbox on its way from the FunctionSpec to its workers and back: checked and
// resolved at Register (ResolveSandbox), sent to the zygote inside its config with what the
// host's probe found (ZygoteSandboxConfig), read back there (OptionsOf, SupportOf), reported by each worker as what is in force (InForceOf), and shown by
// the host as the metric's layers (LayersOf). src/sandbox/sandbox.h describes the layers.
//
// Thread-safety: the functions keep no state but the process's probe (ProbeSandbox, cached,
// thread-safe) and the once-per-process log line of ResolveSandbox.

#ifndef FNHOST_SRC_ISOLATION_SANDBOX_CONFIG_H_
#define FNHOST_SRC_ISOLATION_SANDBOX_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/function_spec.h"
#include "fnhost/metrics.h"
#include "fnhost/zygote.pb.h"
#include "src/sandbox/sandbox.h"

namespace fnhost::internal {

// Whether `options` asks for anything (a level other than off, or a CPU limit).
bool HasSandbox(const SandboxOptions& options);

// At Register: makes the sandbox's paths absolute (against the current directory) and checks
// it: a level needs process isolation, the memory limit is given once, every syscall name and
// path is valid (INVALID_ARGUMENT naming the function and the entry). The first function with
// a sandbox probes the kernel, and what is missing goes to stderr in one line.
absl::Status ResolveSandbox(FunctionSpec* spec);

// What the zygote needs for its workers' sandbox, with the host's probe; nullopt at level off
// (workers get none; a CPU limit is the host's business).
std::optional<zygote::SandboxConfig> ZygoteSandboxConfig(const SandboxOptions& options);

// In the zygote: the policy and the probe the host sent.
SandboxOptions OptionsOf(const zygote::SandboxConfig& config);
sandbox::SandboxSupport SupportOf(const zygote::SandboxSupport& support);

// In the worker: what ApplyInWorker put in force, with the memory limit it enforces.
zygote::SandboxInForce InForceOf(const sandbox::SandboxReport& report,
                                 uint64_t memory_limit_bytes);

// In the host: each layer and its mechanism, as fnhost_sandbox_in_force labels them
// ({"memory", "cgroup"}, ...), `cpu_time` ("process_cpu_clock" or "none") added. The strings
// live in `in_force` or are literals.
std::vector<SandboxLayerInForce> LayersOf(const zygote::SandboxInForce& in_force,
                                          std::string_view cpu_time);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_SANDBOX_CONFIG_H_
