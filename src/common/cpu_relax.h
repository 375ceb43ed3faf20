// CpuRelax: the pause between two polls of a busy-wait (a lock being tried, a shared word being
// watched), which tells the CPU that this is a spin: it saves power and lets the other
// hardware thread of the core run.
//
// Thread-safety: keeps no state.

#ifndef FNHOST_SRC_COMMON_CPU_RELAX_H_
#define FNHOST_SRC_COMMON_CPU_RELAX_H_

namespace fnhost::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_COMMON_CPU_RELAX_H_
