// The process-wide layers of a worker's sandbox: its network namespace, its rlimits and its
// capabilities. Used by ApplyInWorker (sandbox.h), in this order.
// Thread-safety: call in a single-threaded process (unshare of a user namespace requires it).

#ifndef FNHOST_SRC_SANDBOX_PROCESS_LIMITS_H_
#define FNHOST_SRC_SANDBOX_PROCESS_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost::sandbox {

// Moves the process into a new, empty network namespace (only a loopback device, down).
// With `in_user_namespace`, first into a new user namespace that maps the process's own uid
// and gid, which lets an unprivileged process do it.
absl::Status EnterPrivateNetwork(bool in_user_namespace);

// Moves the process into a new user namespace that maps its own uid and gid (for
// RLIMIT_NPROC, which then counts the processes of this namespace only).
absl::Status EnterUserNamespace();

// Sets soft and hard `resource` to `limit` (so that the process cannot raise it again).
absl::Status SetHardLimit(int resource, uint64_t limit, const char* name);

// The process's virtual address space now, in bytes.
uint64_t AddressSpaceBytes();

// Empties the capability bounding set where the process may (it holds what an exec could
// regain); the process keeps the capabilities it has.
void DropBoundingSet();

// Empties the capability sets (and the bounding set, unless that was done, and the ambient
// set), so that even uid 0 holds no privilege.
absl::Status DropCapabilities();

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_PROCESS_LIMITS_H_
