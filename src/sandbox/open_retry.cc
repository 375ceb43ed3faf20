#include "src/sandbox/open_retry.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#if defined(__x86_64__)
// long fnhost_sandbox_raw_syscall(long number, long a0, long a1, long a2, long a3): the
// syscall instruction the gate knows by the address after it (the instruction pointer that
// seccomp sees). Raw: the result is returned as -errno, and errno is left alone.
asm(R"(
  .text
  .globl fnhost_sandbox_raw_syscall
  .hidden fnhost_sandbox_raw_syscall
  .type fnhost_sandbox_raw_syscall, @function
fnhost_sandbox_raw_syscall:
  movq %rdi, %rax
  movq %rsi, %rdi
  movq %rdx, %rsi
  movq %rcx, %rdx
  movq %r8, %r10
  syscall
  .globl fnhost_sandbox_raw_syscall_return
  .hidden fnhost_sandbox_raw_syscall_return
fnhost_sandbox_raw_syscall_return:
  ret
  .size fnhost_sandbox_raw_syscall, .-fnhost_sandbox_raw_syscall
)");
extern "C" long fnhost_sandbox_raw_syscall(long number, long a0, long a1, long a2, long a3);
extern "C" const char fnhost_sandbox_raw_syscall_return[];
#endif

namespace fnhost::sandbox {

#if defined(__x86_64__)

std::vector<sock_filter> OpenRetryGate() {
  const auto address = reinterpret_cast<uintptr_t>(fnhost_sandbox_raw_syscall_return);
  const auto low = static_cast<uint32_t>(address);
  const auto high = static_cast<uint32_t>(address >> 32);
  constexpr uint32_t kIp = offsetof(seccomp_data, instruction_pointer);
  // Jump offsets count from the next instruction; 10 is the first one after the gate.
  return {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 1, 0),
      /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 7),
      /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp),
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low, 0, 3),
      /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp + 4),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high, 0, 1),
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

long RetryOpen(int number, const long args[4], bool* refused) {
  const long result = fnhost_sandbox_raw_syscall(number, args[0], args[1], args[2], args[3]);
  *refused = false;
  if (result != -EACCES) return result;
  // open(path, flags) or openat(dirfd, path, flags).
  const bool at = number == __NR_openat;
  const long dirfd = at ? args[0] : AT_FDCWD;
  const long path = at ? args[1] : args[0];
  const long flags = at ? args[2] : args[1];
  const int access_mode = static_cast<int>(flags & O_ACCMODE);
  int mode = access_mode == O_WRONLY ? W_OK : access_mode == O_RDWR ? R_OK | W_OK : R_OK;
  if ((flags & (O_CREAT | O_TRUNC)) != 0) mode |= W_OK;
  // EACCES here too: the file's mode refused it, not Landlock. (A file yet to be created
  // answers ENOENT, and its refusal is counted.)
  *refused = fnhost_sandbox_raw_syscall(__NR_faccessat, dirfd, path, mode, 0) != -EACCES;
  return result;
}

#else

std::vector<sock_filter> OpenRetryGate() { return {}; }
long RetryOpen(int, const long[4], bool* refused) {
  *refused = false;
  return -ENOSYS;
}

#endif

}  // namespace fnhost::sandbox
