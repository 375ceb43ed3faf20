#include "src/sandbox/denial_counters.h"

#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "src/sandbox/files.h"
#include "src/sandbox/open_retry.h"

// si_code of a SIGSYS raised by seccomp (asm-generic/siginfo.h; glibc does not name it).
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

namespace fnhost::sandbox {
namespace {

constexpr size_t kPageBytes = 4096;
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// Set once, before the filter that can raise SIGSYS exists; read by the handler only.
DenialPage* counting_page = nullptr;
DenialAction denial_action = DenialAction::kErrno;

#if defined(__x86_64__)
greg_t* Registers(void* context) { return static_cast<ucontext_t*>(context)->uc_mcontext.gregs; }
void SetReturn(greg_t* regs, long value) { regs[REG_RAX] = value; }
long Argument(const greg_t* regs, int i) {
  static constexpr int kArgs[] = {REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9};
  return regs[kArgs[i]];
}
#elif defined(__aarch64__)
__u64* Registers(void* context) { return static_cast<ucontext_t*>(context)->uc_mcontext.regs; }
void SetReturn(__u64* regs, long value) { regs[0] = static_cast<__u64>(value); }
long Argument(const __u64* regs, int i) { return static_cast<long>(regs[i]); }
#else
#error "the sandbox's SIGSYS handler knows the registers of x86_64 and aarch64 only"
#endif

void Count(int number) {
  if (DenialPage* page = counting_page; page != nullptr) {
    int slot = number >= 0 && number < DenialPage::kSlots - 1 ? number : DenialPage::kSlots - 1;
    page->by_syscall[slot].fetch_add(1, std::memory_order_relaxed);
    page->total.fetch_add(1, std::memory_order_relaxed);
  }
}

void OnSigsys(int, siginfo_t* info, void* context) {
  // A SIGSYS that someone sent (kill) is not a denial.
  if (info->si_code != SYS_SECCOMP) return;
  const int number = info->si_syscall;
  auto* regs = Registers(context);
  if (info->si_errno == kOpenRetryData) {
    // An open the filter allows, sent here to be retried: Landlock decides, the count is ours.
    const long args[4] = {Argument(regs, 0), Argument(regs, 1), Argument(regs, 2),
                          Argument(regs, 3)};
    bool refused = false;
    SetReturn(regs, RetryOpen(number, args, &refused));
    if (refused) Count(number);
    return;
  }
  Count(number);
  if (denial_action == DenialAction::kKill) {
    // The same call is denied again, and SIGSYS is blocked while this handler runs: the kernel
    // then kills the process with SIGSYS, which its parent sees.
    ::syscall(number, Argument(regs, 0), Argument(regs, 1), Argument(regs, 2),
              Argument(regs, 3), Argument(regs, 4), Argument(regs, 5));
    ::syscall(SYS_kill, ::getpid(), SIGKILL);
  }
  SetReturn(regs, -EPERM);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxDenials>> SandboxDenials::Create() {
  int fd = ::memfd_create("fnhost-sandbox-denials", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoStatus(errno, "memfd_create", "(sandbox denial counters)");
  void* memory = MAP_FAILED;
  if (::ftruncate(fd, kPageBytes) == 0 && ::fcntl(fd, F_ADD_SEALS, kSeals) == 0) {
    memory = ::mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (memory == MAP_FAILED) {
    absl::Status status = ErrnoStatus(errno, "setting up", "(sandbox denial counters)");
    ::close(fd);
    return status;
  }
  auto* page = static_cast<DenialPage*>(memory);
  page->magic.store(DenialPage::kMagic, std::memory_order_release);
  return std::unique_ptr<SandboxDenials>(new SandboxDenials(fd, page));
}

absl::StatusOr<std::unique_ptr<SandboxDenials>> SandboxDenials::Map(int fd, bool writable) {
  struct stat st;
  // Sealed against shrinking, or the other side could truncate it and fault our reads.
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kPageBytes) || seals < 0 ||
      (seals & F_SEAL_SHRINK) == 0) {
    ::close(fd);
    return absl::InvalidArgumentError("sandbox denial counters: not a sealed page-sized memfd");
  }
  void* memory = ::mmap(nullptr, kPageBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                        MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    absl::Status status = ErrnoStatus(errno, "mmap", "(sandbox denial counters)");
    ::close(fd);
    return status;
  }
  return std::unique_ptr<SandboxDenials>(
      new SandboxDenials(fd, static_cast<DenialPage*>(memory)));
}

SandboxDenials::~SandboxDenials() {
  ::munmap(page_, kPageBytes);
  ::close(fd_);
}

uint64_t SandboxDenials::Total() const {
  if (page_->magic.load(std::memory_order_acquire) != DenialPage::kMagic) return 0;
  return page_->total.load(std::memory_order_relaxed);
}

uint64_t SandboxDenials::Count(int syscall) const {
  if (page_->magic.load(std::memory_order_acquire) != DenialPage::kMagic || syscall < 0) {
    return 0;
  }
  int slot = syscall < DenialPage::kSlots - 1 ? syscall : DenialPage::kSlots - 1;
  return page_->by_syscall[slot].load(std::memory_order_relaxed);
}

std::vector<DenialCount> SandboxDenials::Read() const {
  std::vector<DenialCount> counts;
  if (page_->magic.load(std::memory_order_acquire) != DenialPage::kMagic) return counts;
  for (int slot = 0; slot < DenialPage::kSlots; ++slot) {
    uint64_t count = page_->by_syscall[slot].load(std::memory_order_relaxed);
    if (count == 0) continue;
    counts.push_back({slot, slot == DenialPage::kSlots - 1 ? "other" : SyscallName(slot), count});
  }
  return counts;
}

std::string SyscallName(int number) {
  char* name = ::seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
  if (name == nullptr) return absl::StrCat("syscall_", number);
  std::string result(name);
  std::free(name);
  return result;
}

absl::Status InstallDenialHandler(DenialPage* page, DenialAction action) {
  counting_page = page;
  denial_action = action;
  struct sigaction handler {};
  handler.sa_sigaction = &OnSigsys;
  handler.sa_flags = SA_SIGINFO;
  sigemptyset(&handler.sa_mask);
  if (::sigaction(SIGSYS, &handler, nullptr) != 0) {
    return ErrnoStatus(errno, "sigaction(SIGSYS)", "");
  }
  // A SIGSYS blocked at a denial would kill the worker instead of counting it.
  sigset_t sigsys;
  sigemptyset(&sigsys);
  sigaddset(&sigsys, SIGSYS);
  ::sigprocmask(SIG_UNBLOCK, &sigsys, nullptr);
  return absl::OkStatus();
}

}  // namespace fnhost::sandbox
