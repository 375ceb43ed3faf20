// What a worker process is allowed, applied by the worker to itself once its state is built
// and before it creates its instance and serves (zygote_worker.h): today the memory limit,
// RLIMIT_AS over what the worker inherited and built. A call that reaches it fails, and the
// worker reports RESOURCE_EXHAUSTED and exits (HitMemoryLimit tells the call's code).
//
// Thread-safety: in the worker's own (single) thread, once.

#ifndef FNHOST_SRC_ISOLATION_WORKER_LIMITS_H_
#define FNHOST_SRC_ISOLATION_WORKER_LIMITS_H_

#include <string_view>

#include "absl/status/status.h"
#include "fnhost/zygote.pb.h"

namespace fnhost::internal {

// Applies `limits` to the calling process. `function` names it in errors.
absl::Status ApplyWorkerLimits(const zygote::WorkerLimits& limits, std::string_view function);

// Makes an allocation that fails (at an RLIMIT_AS set elsewhere: the sandbox's fallback) throw
// std::bad_alloc as usual, and HitMemoryLimit say so.
void CatchMemoryLimit();

// Whether an allocation failed at the memory limit since the last call (which clears it).
bool HitMemoryLimit();
void ClearMemoryLimitHit();

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_LIMITS_H_
