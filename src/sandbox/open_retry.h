// Counting the opens that Landlock refuses.
//
// Landlock refuses an open with EACCES and tells no one, so a module reading a secret outside
// its read_paths would leave no count in fnhost_sandbox_denials_total. Where Landlock is in
// force, the seccomp filter therefore traps the opens it would allow (SECCOMP_RET_TRAP with
// kOpenRetryData as the trap's data) instead of letting them through. The SIGSYS handler of
// denial_counters.h makes the same call again from one syscall instruction of its own, which
// the first instructions of the filter (OpenRetryGate) let through, gives the module that
// call's result, and counts the call as denied when it failed with EACCES although the file's
// own permissions allow it (faccessat, which Landlock does not check).
//
// A module gains nothing by jumping to that instruction: the gate lets through open and
// openat only, whose paths Landlock checks either way; it only escapes the count. An allowed
// open costs a signal's round trip more (a few microseconds); compute modules open files in
// their init, before the sandbox. x86_64 only (kOpenRetrySupported): elsewhere Landlock's
// refusals stay uncounted.
//
// Thread-safety: RetryOpen is async-signal-safe and touches no errno.

#ifndef FNHOST_SRC_SANDBOX_OPEN_RETRY_H_
#define FNHOST_SRC_SANDBOX_OPEN_RETRY_H_

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace fnhost::sandbox {

#if defined(__x86_64__)
inline constexpr bool kOpenRetrySupported = true;
#else
inline constexpr bool kOpenRetrySupported = false;
#endif

// The SECCOMP_RET_DATA of the trap that asks for a retry (a denial's is 0).
inline constexpr uint16_t kOpenRetryData = 0x0f2e;

// Classic BPF to run before the profile's program: allows open and openat made from the
// retry instruction, and falls through to the next instruction for every other call. It
// loads the instruction pointer only for those two calls, so that the kernel can still cache
// every other call's verdict. Empty where !kOpenRetrySupported.
std::vector<sock_filter> OpenRetryGate();

// In the SIGSYS handler, for a trap with kOpenRetryData: makes the call `number` (open or
// openat) with `args` again and returns its result (a descriptor, or -errno). Sets *refused
// when Landlock refused it.
long RetryOpen(int number, const long args[4], bool* refused);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_OPEN_RETRY_H_
