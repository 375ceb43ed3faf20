// SandboxDenials: the count of denied system calls of one worker, by syscall, on a shared page
// that the host reads for fnhost_sandbox_denials_total{function,syscall}.
//
// How a denial is seen: the seccomp filter answers a denied call with SECCOMP_RET_TRAP, so the
// kernel raises SIGSYS in the calling thread, at once and with the syscall number. The
// worker's SIGSYS handler (InstallDenialHandler) adds one to that syscall's counter on the
// page, then either makes the call return -EPERM (by writing the return register of the
// interrupted context) or, with DenialAction::kKill, repeats the denied call while SIGSYS is
// still blocked in the handler, so that the kernel kills the process with SIGSYS. No
// supervisor, no thread, nothing on the path of an allowed call but opens: a trap that carries
// kOpenRetryData is no denial but an open to make again and to count if Landlock refuses it
// (open_retry.h). (SECCOMP_RET_USER_NOTIF
// would give a count the worker cannot touch, but every denied call would then wait for a
// supervisor's answer, the single-threaded zygote would have to serve one notification
// descriptor per worker, and a supervisor that dies leaves calls failing with ENOSYS.)
//
// Trust: the page is mapped writable in the worker, so a hostile module can overwrite its own
// counts, and a module that blocks SIGSYS gets killed by its next denied call instead of
// counted (the kernel's rule for a blocked SIGSYS). The filter refuses a new SIGSYS handler.
// The counts are best-effort; the denials themselves do not depend on them. Under kKill the
// worker's death by SIGSYS is seen by its parent whatever the page says. Readers treat the
// page as untrusted input: bounded slots, no pointers, values only.
//
// Thread-safety: counters are atomics; any process and thread may read a page at any time.

#ifndef FNHOST_SRC_SANDBOX_DENIAL_COUNTERS_H_
#define FNHOST_SRC_SANDBOX_DENIAL_COUNTERS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/sandbox/sandbox_policy.h"

namespace fnhost::sandbox {

// The shared page. Slot i counts syscall number i; the last slot counts numbers beyond.
struct DenialPage {
  static constexpr uint64_t kMagic = 0x31594e4544584e46;  // "FNXDENY1"
  static constexpr int kSlots = 500;
  std::atomic<uint64_t> magic;
  std::atomic<uint64_t> total;
  std::atomic<uint64_t> by_syscall[kSlots];
};
static_assert(sizeof(DenialPage) <= 4096);

struct DenialCount {
  int syscall = 0;       // the number; DenialPage::kSlots - 1 for "beyond the table"
  std::string name;      // "execve"; "syscall_<n>" for a number the table has no name for
  uint64_t count = 0;
};

class SandboxDenials {
 public:
  // A fresh page on a memfd. The mapping is shared, so a worker forked after this counts into
  // it; fd() is for passing it to another process (close-on-exec).
  static absl::StatusOr<std::unique_ptr<SandboxDenials>> Create();
  // Maps a page another process created; takes `fd`. The host maps a worker's page read-only;
  // a process that counts into a page it was given (not forked with it) maps it writable.
  static absl::StatusOr<std::unique_ptr<SandboxDenials>> Map(int fd, bool writable = false);
  ~SandboxDenials();
  SandboxDenials(const SandboxDenials&) = delete;
  SandboxDenials& operator=(const SandboxDenials&) = delete;

  int fd() const { return fd_; }
  DenialPage* page() const { return page_; }

  // All denials counted so far (0 for a page that does not carry the magic).
  uint64_t Total() const;
  // The count of one syscall number.
  uint64_t Count(int syscall) const;
  // The syscalls with a count, ascending by number.
  std::vector<DenialCount> Read() const;

 private:
  SandboxDenials(int fd, DenialPage* page) : fd_(fd), page_(page) {}
  int fd_;
  DenialPage* page_;
};

// The name of a syscall number on this architecture ("execve"), "syscall_<n>" if unknown.
std::string SyscallName(int number);

// In the worker, before its seccomp filter: SIGSYS counts into `page` (may be null: not
// counted) and answers as `action` says.
absl::Status InstallDenialHandler(DenialPage* page, DenialAction action);

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_DENIAL_COUNTERS_H_
