#include "src/sandbox/seccomp_profile.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/sandbox/files.h"
#include "src/sandbox/open_retry.h"

namespace fnhost::sandbox {
namespace {

// Names this libseccomp does not know (newer syscalls) are skipped.
constexpr const char* kStrictAllow[] = {
    // memory
    "brk", "mmap", "munmap", "mprotect", "madvise", "mremap", "msync", "mincore", "membarrier",
    // threads and their synchronisation
    "futex", "futex_waitv", "set_robust_list", "rseq", "set_tid_address", "sched_yield",
    "sched_getaffinity", "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "getcpu",
    // clocks and timers
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "times", "getrusage", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime", "setitimer",
    "getitimer", "alarm",
    // descriptors the module holds
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fstat",
    "newfstatat", "statx", "stat", "lstat", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getdents64", "getcwd", "fsync", "fdatasync", "ftruncate", "fadvise64",
    "flock", "umask",
    // waiting on them, and on children (a compute module has none: ECHILD)
    "wait4", "waitid",
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "pipe", "pipe2",
    // sockets it holds (the worker's channel)
    "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
    "getsockopt", "getsockname", "getpeername",
    // itself
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
    "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "uname", "sysinfo",
    "getpriority", "capget", "arch_prctl", "getrandom",
    // signals
    "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
    "sigaltstack", "restart_syscall", "pause",
    "exit", "exit_group",
};

// Calls that name paths; under strict, allowed where Landlock checks the paths. Those that
// only open (for reading, unless the worker may write somewhere) come first.
constexpr const char* kOpenCalls[] = {"open", "openat"};
constexpr const char* kWritePathCalls[] = {
    "creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "rmdir", "truncate", "link", "linkat", "symlink", "symlinkat",
};
// The open flags that write: an access mode other than O_RDONLY, or creating or truncating.
constexpr uint64_t kWriteOpenFlags = O_ACCMODE | O_CREAT | O_TRUNC;

constexpr const char* kNetworkCalls[] = {
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "setsockopt",
};

constexpr const char* kBasicDeny[] = {
    "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
    "pidfd_getfd", "pidfd_send_signal", "kcmp", "process_madvise", "process_mrelease", "tkill",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns", "bpf", "keyctl",
    "add_key", "request_key", "perf_event_open", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "userfaultfd", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "quotactl_fd", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog",
    "name_to_handle_at", "open_by_handle_at", "personality", "uselib", "iopl", "ioperm",
    "setrlimit", "setsid", "setpgid", "sethostname", "setdomainname", "lookup_dcookie",
    "vhangup", "mknod", "mknodat",
};

// Stands for the worker's pid in the compiled program: above any pid (pid_max <= 2^22), so
// an instruction comparing against it can only be one of ours.
constexpr uint32_t kSelfPlaceholder = 0x3ffffffd;

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                     CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
constexpr uint64_t kStrictPrctl[] = {
    PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS,
    PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_GET_PDEATHSIG, 0x53564d41 /* PR_SET_VMA */,
};
constexpr uint64_t kBasicDenyPrctl[] = {
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_MM, PR_SET_CHILD_SUBREAPER, PR_SET_PTRACER,
};
constexpr uint64_t kStrictIoctl[] = {TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};

// libseccomp knows no trap with data: the rules that ask for a retry are compiled as this
// errno, whose return instructions Compile turns into SECCOMP_RET_TRAP | kOpenRetryData.
constexpr uint32_t kRetryPlaceholder = SCMP_ACT_ERRNO(kOpenRetryData);

bool RetriesOpens(const SeccompProfile& profile) {
  return profile.count_file_refusals && kOpenRetrySupported;
}

// What an open that the profile lets through gets: a retry where its refusals are counted.
uint32_t OpenAllowed(const SeccompProfile& profile) {
  return RetriesOpens(profile) ? kRetryPlaceholder : SCMP_ACT_ALLOW;
}

class FilterBuilder {
 public:
  FilterBuilder(scmp_filter_ctx ctx, const SeccompProfile& profile)
      : ctx_(ctx), profile_(profile) {}

  // A rule for `name` unless the user allowed it outright; unknown names are skipped.
  void Rule(uint32_t action, const char* name, std::initializer_list<scmp_arg_cmp> args = {}) {
    int number = ::seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR || UserAllowed(number)) return;
    Add(action, number, args, name);
  }
  template <size_t N>
  void Rules(uint32_t action, const char* const (&names)[N]) {
    for (const char* name : names) Rule(action, name);
  }
  void UserAllows() {
    for (int number : profile_.allow_syscalls) {
      if (default_action_ != SCMP_ACT_ALLOW) Add(SCMP_ACT_ALLOW, number, {}, "allow_syscalls");
    }
  }
  void set_default_action(uint32_t action) { default_action_ = action; }
  const absl::Status& status() const { return status_; }

 private:
  bool UserAllowed(int number) const {
    return std::find(profile_.allow_syscalls.begin(), profile_.allow_syscalls.end(), number) !=
           profile_.allow_syscalls.end();
  }
  void Add(uint32_t action, int number, std::initializer_list<scmp_arg_cmp> args,
           const char* name) {
    if (!status_.ok()) return;
    int rc = ::seccomp_rule_add_array(ctx_, action, number, static_cast<unsigned>(args.size()),
                                      args.begin());
    // EEXIST: the same rule twice (a user allow of a profile call) is harmless.
    if (rc < 0 && rc != -EEXIST) status_ = ErrnoStatus(-rc, "seccomp_rule_add", name);
  }

  scmp_filter_ctx ctx_;
  const SeccompProfile& profile_;
  uint32_t default_action_ = SCMP_ACT_TRAP;
  absl::Status status_;
};

// open and openat for reading only (the flags are argument 1 of open, 2 of openat), with
// `action`; or, with `writing`, the rules that match an open for writing.
void OpenRules(FilterBuilder& filter, uint32_t action, bool writing) {
  const std::pair<const char*, unsigned> calls[] = {{"open", 1}, {"openat", 2}};
  for (const auto& [name, flags] : calls) {
    if (!writing) {
      filter.Rule(action, name, {{flags, SCMP_CMP_MASKED_EQ, kWriteOpenFlags, 0}});
      continue;
    }
    for (uint64_t bit : {uint64_t{O_WRONLY}, uint64_t{O_RDWR}, uint64_t{O_CREAT}, uint64_t{O_TRUNC}}) {
      filter.Rule(action, name, {{flags, SCMP_CMP_MASKED_EQ, bit, bit}});
    }
  }
}

void AddStrictRules(FilterBuilder& filter, const SeccompProfile& profile) {
  const uint32_t allow = SCMP_ACT_ALLOW;
  filter.Rules(allow, kStrictAllow);
  if (!profile.deny_open && !profile.deny_writes) {
    filter.Rules(OpenAllowed(profile), kOpenCalls);
    filter.Rules(allow, kWritePathCalls);
  } else if (!profile.deny_open) {
    OpenRules(filter, OpenAllowed(profile), /*writing=*/false);
  }
  if (profile.allow_network) filter.Rules(allow, kNetworkCalls);
  filter.Rule(allow, "clone",
              {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | kNamespaceFlags, CLONE_THREAD)});
  filter.Rule(allow, "kill", {SCMP_A0(SCMP_CMP_EQ, kSelfPlaceholder)});
  filter.Rule(allow, "tgkill", {SCMP_A0(SCMP_CMP_EQ, kSelfPlaceholder)});
  filter.Rule(allow, "rt_sigaction", {SCMP_A0(SCMP_CMP_NE, SIGSYS)});
  filter.Rule(allow, "rt_sigaction", {SCMP_A1(SCMP_CMP_EQ, 0)});
  filter.Rule(allow, "prlimit64", {SCMP_A2(SCMP_CMP_EQ, 0)});  // reading only
  for (uint64_t option : kStrictPrctl) filter.Rule(allow, "prctl", {SCMP_A0(SCMP_CMP_EQ, option)});
  for (uint64_t request : kStrictIoctl) {
    filter.Rule(allow, "ioctl", {SCMP_A1(SCMP_CMP_EQ, request)});
  }
}

void AddBasicRules(FilterBuilder& filter, const SeccompProfile& profile) {
  const uint32_t deny = SCMP_ACT_TRAP;
  filter.Rules(deny, kBasicDeny);
  if (profile.deny_writes) {
    OpenRules(filter, deny, /*writing=*/true);
    filter.Rules(deny, kWritePathCalls);
  } else if (RetriesOpens(profile)) {
    OpenRules(filter, kRetryPlaceholder, /*writing=*/true);  // reads are not Landlock's here
  }
  if (!profile.allow_network) filter.Rules(deny, kNetworkCalls);
  filter.Rule(deny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)});
  for (uint64_t flag = 1; flag != 0; flag <<= 1) {
    if ((kNamespaceFlags & flag) != 0) {
      filter.Rule(deny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    }
  }
  filter.Rule(deny, "kill", {SCMP_A0(SCMP_CMP_NE, kSelfPlaceholder)});
  filter.Rule(deny, "tgkill", {SCMP_A0(SCMP_CMP_NE, kSelfPlaceholder)});
  filter.Rule(deny, "rt_sigaction", {SCMP_A0(SCMP_CMP_EQ, SIGSYS), SCMP_A1(SCMP_CMP_NE, 0)});
  filter.Rule(deny, "prlimit64", {SCMP_A2(SCMP_CMP_NE, 0)});
  for (uint64_t option : kBasicDenyPrctl) filter.Rule(deny, "prctl", {SCMP_A0(SCMP_CMP_EQ, option)});
}

}  // namespace

absl::StatusOr<SeccompProgram> SeccompProgram::Compile(const SeccompProfile& profile) {
  const bool strict = profile.level == SandboxLevel::kStrict;
  const uint32_t default_action = strict ? SCMP_ACT_TRAP : SCMP_ACT_ALLOW;
  scmp_filter_ctx ctx = ::seccomp_init(default_action);
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  int rc = ::seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  // A binary search over syscall numbers rather than a linear list: each load makes the kernel
  // run the filter once per syscall number to cache the ones it always allows, which costs
  // in proportion to the depth of the filter.
  if (rc == 0) rc = ::seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  FilterBuilder filter(ctx, profile);
  filter.set_default_action(default_action);
  // Uncounted: glibc's pthread_create tries clone3 first and falls back to clone on ENOSYS.
  filter.Rule(SCMP_ACT_ERRNO(ENOSYS), "clone3");
  if (strict) {
    AddStrictRules(filter, profile);
  } else {
    AddBasicRules(filter, profile);
  }
  filter.UserAllows();
  absl::Status status =
      rc < 0 ? ErrnoStatus(-rc, "seccomp_attr_set", "") : filter.status();
  std::vector<sock_filter> program;
  int fd = status.ok() ? ::memfd_create("fnhost-seccomp-bpf", MFD_CLOEXEC) : -1;
  if (status.ok() && fd < 0) status = ErrnoStatus(errno, "memfd_create", "(seccomp program)");
  if (status.ok() && (rc = ::seccomp_export_bpf(ctx, fd)) < 0) {
    status = ErrnoStatus(-rc, "seccomp_export_bpf", "");
  }
  ::seccomp_release(ctx);
  off_t size = status.ok() ? ::lseek(fd, 0, SEEK_END) : 0;
  program.resize(static_cast<size_t>(std::max<off_t>(size, 0)) / sizeof(sock_filter));
  if (status.ok() && (program.empty() || ::pread(fd, program.data(), program.size() *
                                                     sizeof(sock_filter), 0) != size)) {
    status = absl::InternalError("reading back the compiled seccomp program failed");
  }
  if (fd >= 0) ::close(fd);
  if (!status.ok()) return status;
  if (!RetriesOpens(profile)) return SeccompProgram(std::move(program), 0);
  for (sock_filter& instruction : program) {
    if (instruction.code == (BPF_RET | BPF_K) && instruction.k == kRetryPlaceholder) {
      instruction.k = SECCOMP_RET_TRAP | kOpenRetryData;
    }
  }
  std::vector<sock_filter> gated = OpenRetryGate();
  const size_t gate_size = gated.size();
  gated.insert(gated.end(), program.begin(), program.end());
  return SeccompProgram(std::move(gated), gate_size);
}

absl::Status SeccompProgram::Load(pid_t self) const {
  // Patched in a buffer on the stack where it fits: in a worker just forked, a copy on the heap
  // costs several copy-on-write faults of the zygote's heap pages (the allocator's free lists
  // run across them), a fault each of 10-20 us on a paravirtualized VM.
  constexpr size_t kOnStack = 512;
  sock_filter on_stack[kOnStack];
  std::vector<sock_filter> on_heap;
  sock_filter* program = on_stack;
  if (program_.size() > kOnStack) {
    on_heap.resize(program_.size());
    program = on_heap.data();
  }
  for (size_t i = 0; i < program_.size(); ++i) {
    program[i] = program_[i];
    if (i >= gate_size_ && BPF_CLASS(program[i].code) == BPF_JMP &&
        program[i].k == kSelfPlaceholder) {
      program[i].k = static_cast<uint32_t>(self);
    }
  }
  sock_fprog fprog{static_cast<unsigned short>(program_.size()), program};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return ErrnoStatus(errno, "prctl(PR_SET_NO_NEW_PRIVS)", "");
  }
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (rc < 0) return ErrnoStatus(errno, "seccomp(SECCOMP_SET_MODE_FILTER)", "");
  if (rc > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("seccomp: thread ", rc, " could not take the filter (TSYNC)"));
  }
  return absl::OkStatus();
}

}  // namespace fnhost::sandbox
