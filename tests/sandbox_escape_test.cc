// Escapes from a sandboxed worker: each test runs fnhost_sandbox_probe, which applies a policy
// to itself as a worker does and then tries one escape. Each checks that the escape's effect is
// absent under the sandbox (the secret is not in the output, no file appeared, the listener saw
// no connection, no process was made beyond the limit), that the denial was counted where
// seccomp denied it, and that the same escape succeeds with the sandbox off, so that the test
// can fail. Each test runs twice: the probe sandboxing itself, and the probe acting as a
// zygote (PreparedSandbox::Prepare and EnterInZygote, then fork, then ApplyInWorker in the
// child), which is how workers get it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/open_retry.h"
#include "src/sandbox/sandbox_support.h"
#include "tests/support/escape_targets.h"
#include "tests/support/process_util.h"
#include "tests/support/sandbox_probe_runner.h"

namespace fnhost::sandbox {
namespace {

using fnhost::testing::Listener;
using fnhost::testing::ProbeFd;
using fnhost::testing::RandomSecret;
using fnhost::testing::ProbeRun;
using fnhost::testing::RunProbe;

// What the probe may try to read from this process's memory.
char memory_secret[64];

// The highest "ALLOCATED <n>" the probe printed.
uint64_t MostAllocated(const std::string& output) {
  uint64_t most = 0;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    uint64_t n = 0;
    if (absl::ConsumePrefix(&line, "ALLOCATED ") && absl::SimpleAtoi(line, &n)) {
      most = std::max(most, n);
    }
  }
  return most;
}

class SandboxEscapeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const SandboxSupport& support = ProbeSandbox();
    if (!support.seccomp.usable || !support.landlock.usable) {
      GTEST_SKIP() << "strict needs seccomp and Landlock: " << support.Describe();
    }
    char path[] = "/tmp/fnhost-sandbox-XXXXXX";
    ASSERT_NE(::mkdtemp(path), nullptr);
    dir_ = path;
    std::filesystem::create_directory(dir_ + "/readable");
    std::filesystem::create_directory(dir_ + "/writable");
    std::ofstream(dir_ + "/readable/allowed.txt") << "allowed-content";
    std::ofstream(dir_ + "/readable/locked.txt") << "locked-content";
    ::chmod((dir_ + "/readable/locked.txt").c_str(), 0);
    secret_ = RandomSecret("SECRET-");
    std::ofstream(dir_ + "/secret.txt") << secret_;
    ::chmod((dir_ + "/secret.txt").c_str(), 0644);
    std::string memory = RandomSecret("MEMSECRET-");
    std::snprintf(memory_secret, sizeof(memory_secret), "%s", memory.c_str());
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The probe under `options` (a level, ...), with read_paths readable/ and write_paths
  // writable/, counting into a fresh page (denials()); `fds` become ProbeFd(1), ...
  ProbeRun Sandboxed(std::vector<std::string> options, const std::vector<std::string>& escape,
                     const std::vector<int>& fds = {}) {
    absl::StatusOr<std::unique_ptr<SandboxDenials>> denials = SandboxDenials::Create();
    EXPECT_TRUE(denials.ok()) << denials.status();
    if (!denials.ok()) return {};
    denials_ = *std::move(denials);
    std::vector<int> inherit = {denials_->fd()};
    inherit.insert(inherit.end(), fds.begin(), fds.end());
    if (GetParam()) options.push_back("--zygote");
    options.insert(options.end(), {absl::StrCat("--denials-fd=", ProbeFd(0)),
                                   "--read=" + dir_ + "/readable",
                                   "--write=" + dir_ + "/writable"});
    options.insert(options.end(), escape.begin(), escape.end());
    ProbeRun run = RunProbe(options, inherit);
    EXPECT_FALSE(run.Has("APPLY-ERROR")) << run.output;
    return run;
  }
  ProbeRun Strict(const std::vector<std::string>& escape) {
    return Sandboxed({"--level=strict"}, escape);
  }
  ProbeRun Unsandboxed(std::vector<std::string> escape) {
    escape.insert(escape.begin(), "--level=off");
    return RunProbe(escape);
  }
  uint64_t Denied(int syscall) const { return denials_->Count(syscall); }

  std::string dir_;
  std::string secret_;
  std::unique_ptr<SandboxDenials> denials_;
};

TEST_P(SandboxEscapeTest, ReadsOnlyItsReadPaths) {
  ProbeRun strict = Strict({"read-file", dir_ + "/secret.txt"});
  EXPECT_FALSE(strict.Has(secret_)) << strict.output;
  EXPECT_TRUE(strict.Has("ERROR Permission denied")) << strict.output;
  if (kOpenRetrySupported) EXPECT_EQ(Denied(SYS_openat), 1u) << "Landlock's refusal, counted";
  ProbeRun allowed = Strict({"read-file", dir_ + "/readable/allowed.txt"});
  EXPECT_TRUE(allowed.Has("READ allowed-content")) << allowed.output;
  EXPECT_EQ(denials_->Total(), 0u) << "an open Landlock allows is retried, not counted";
  // A file its own mode refuses (the worker has no capability to override it): not counted.
  ProbeRun locked = Strict({"read-file", dir_ + "/readable/locked.txt"});
  EXPECT_TRUE(locked.Has("ERROR Permission denied")) << locked.output;
  EXPECT_EQ(denials_->Total(), 0u) << "the file's mode refused it, not the sandbox";
  ProbeRun off = Unsandboxed({"read-file", dir_ + "/secret.txt"});
  EXPECT_TRUE(off.Has(secret_)) << off.output;
}

// Counting Landlock's refusals traps every open: a thread that blocks SIGSYS cannot take the
// trap and dies of it (the kernel's rule). count_refused_opens: false lets its opens through.
TEST_P(SandboxEscapeTest, AThreadBlockingSignalsNeedsOpensUncounted) {
  if (!kOpenRetrySupported) GTEST_SKIP() << "opens are not trapped on this architecture";
  const std::string allowed = dir_ + "/readable/allowed.txt";
  ProbeRun counted = Strict({"read-file-signals-blocked", allowed});
  EXPECT_EQ(counted.Signal(), SIGSYS) << counted.output;
  EXPECT_FALSE(counted.Has("READ allowed-content")) << counted.output;

  const std::vector<std::string> uncounted = {"--level=strict", "--no-count-refused-opens"};
  ProbeRun read = Sandboxed(uncounted, {"read-file-signals-blocked", allowed});
  EXPECT_TRUE(read.Has("READ allowed-content")) << read.output;
  ProbeRun secret = Sandboxed(uncounted, {"read-file-signals-blocked", dir_ + "/secret.txt"});
  EXPECT_TRUE(secret.Has("ERROR Permission denied")) << secret.output;
  EXPECT_FALSE(secret.Has(secret_)) << secret.output;
  EXPECT_EQ(denials_->Total(), 0u) << "Landlock refused it, uncounted";
}

// /proc/self is the worker's own, also when a zygote prepared the rules; other processes'
// /proc entries are not readable.
TEST_P(SandboxEscapeTest, ReadsItsOwnProcEntriesOnly) {
  ProbeRun own = Strict({"read-file", "/proc/self/status"});
  EXPECT_TRUE(own.Has("READ Name:")) << own.output;
  EXPECT_EQ(denials_->Total(), 0u);
  const std::string host = absl::StrCat("/proc/", ::getpid(), "/status");
  ProbeRun other = Strict({"read-file", host});
  EXPECT_TRUE(other.Has("ERROR Permission denied")) << other.output;
  if (kOpenRetrySupported) EXPECT_EQ(Denied(SYS_openat), 1u);
  ProbeRun off = Unsandboxed({"read-file", host});
  EXPECT_TRUE(off.Has("READ Name:")) << off.output;
}

TEST_P(SandboxEscapeTest, WritesOnlyInItsWritePaths) {
  const std::string outside = dir_ + "/outside.txt";
  for (const char* level : {"--level=strict", "--level=basic"}) {
    ProbeRun run = Sandboxed({level}, {"write-file", outside});
    EXPECT_TRUE(run.Has("ERROR Permission denied")) << level << "\n" << run.output;
    EXPECT_FALSE(std::filesystem::exists(outside)) << level;
    if (kOpenRetrySupported) EXPECT_EQ(Denied(SYS_openat), 1u) << level;
  }
  ProbeRun inside = Strict({"write-file", dir_ + "/writable/inside.txt"});
  EXPECT_TRUE(inside.Has("WROTE")) << inside.output;
  EXPECT_EQ(denials_->Total(), 0u);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/writable/inside.txt"));
  ProbeRun off = Unsandboxed({"write-file", outside});
  EXPECT_TRUE(off.Has("WROTE")) << off.output;
  EXPECT_TRUE(std::filesystem::exists(outside));
}

TEST_P(SandboxEscapeTest, NoNetworkConnection) {
  Listener listener;
  ProbeRun strict = Strict({"connect", listener.port()});
  EXPECT_FALSE(strict.Has("CONNECTED")) << strict.output;
  EXPECT_FALSE(listener.SawConnection());
  EXPECT_GE(Denied(SYS_socket), 1u);

  // With sockets allowed, the network namespace and Landlock's TCP rules still hold...
  ProbeRun sockets = Sandboxed({"--level=strict", "--allow=socket", "--allow=connect"},
                               {"connect", listener.port()});
  EXPECT_TRUE(sockets.Has("ERROR")) << sockets.output;
  EXPECT_FALSE(listener.SawConnection());
  EXPECT_EQ(Denied(SYS_socket), 0u);
  // ... and each holds alone.
  ProbeRun namespace_only = RunProbe({"--network-namespace-only", "connect", listener.port()});
  EXPECT_TRUE(namespace_only.Has("ERROR")) << namespace_only.output;
  EXPECT_FALSE(listener.SawConnection());
  if (ProbeSandbox().landlock_abi >= 4) {
    ProbeRun landlock_only = RunProbe({"--landlock-only", "connect", listener.port()});
    EXPECT_TRUE(landlock_only.Has("ERROR Permission denied")) << landlock_only.output;
    EXPECT_FALSE(listener.SawConnection());
  }

  ProbeRun off = Unsandboxed({"connect", listener.port()});
  EXPECT_TRUE(off.Has("CONNECTED")) << off.output;
  EXPECT_TRUE(listener.SawConnection());
}

TEST_P(SandboxEscapeTest, NoFork) {
  ProbeRun strict = Strict({"fork"});
  EXPECT_FALSE(strict.Has("FORKED")) << strict.output;
  EXPECT_TRUE(strict.Has("ERROR Operation not permitted")) << strict.output;
  EXPECT_GE(Denied(SYS_clone), 1u);
  // allow_syscalls extends the profile.
  ProbeRun allowed = Sandboxed({"--level=strict", "--allow=clone"}, {"fork"});
  EXPECT_TRUE(allowed.Has("FORKED")) << allowed.output;
  EXPECT_EQ(Denied(SYS_clone), 0u);
  ProbeRun off = Unsandboxed({"fork"});
  EXPECT_TRUE(off.Has("FORKED")) << off.output;
}

// The probe forks at most 32 times whatever happens, so a failing sandbox cannot take the
// machine down.
TEST_P(SandboxEscapeTest, ForkBombMakesNoProcess) {
  ProbeRun strict = Strict({"fork-bomb", "32"});
  EXPECT_TRUE(strict.Has("FORKS 0")) << strict.output;
  EXPECT_EQ(Denied(SYS_clone), 32u);
  ProbeRun off = Unsandboxed({"fork-bomb", "32"});
  EXPECT_TRUE(off.Has("FORKS 32")) << off.output;
}

// Where seccomp lets clone through (allow_syscalls), the pids cgroup still bounds it.
TEST_P(SandboxEscapeTest, PidsCgroupBoundsForksSeccompAllows) {
  const SandboxSupport& support = ProbeSandbox();
  if (!support.pids_cgroup.feature.usable) {
    GTEST_SKIP() << "no pids cgroup: " << support.pids_cgroup.feature.reason;
  }
  absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
      WorkerCgroups::Create("bomb", CgroupLimits{0, 8}, support);
  ASSERT_TRUE(cgroups.ok()) << cgroups.status();
  absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  ProbeRun run = Sandboxed({"--level=strict", "--allow=clone", "--pids-limit=8",
                            absl::StrCat("--cgroup-fd=", ProbeFd(1)), "--cgroup-limits=pids"},
                           {"fork-bomb", "32"}, ticket->procs_fds);
  ticket->CloseDescriptors();
  EXPECT_TRUE(run.Has("pids cgroup")) << run.output;
  EXPECT_TRUE(run.Has("ERROR Resource temporarily unavailable")) << run.output;
  // The probe itself is one of the 8.
  EXPECT_TRUE(run.Has("FORKS 7")) << run.output;
  const std::vector<std::string> directories = ticket->directories;
  EXPECT_GT((*cgroups)->Release(*ticket).forks_refused, 0u);
  // The next worker gets the kept cgroup, and only its own refusals.
  absl::StatusOr<CgroupTicket> next = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->directories, directories);
  ProbeRun calm = Sandboxed({"--level=strict", "--allow=clone", "--pids-limit=8",
                             absl::StrCat("--cgroup-fd=", ProbeFd(1)), "--cgroup-limits=pids"},
                            {"fork-bomb", "2"}, next->procs_fds);
  next->CloseDescriptors();
  EXPECT_TRUE(calm.Has("FORKS 2")) << calm.output;
  EXPECT_EQ((*cgroups)->Release(*next).forks_refused, 0u);
}

TEST_P(SandboxEscapeTest, NoExec) {
  for (const char* level : {"--level=strict", "--level=basic"}) {
    ProbeRun run = Sandboxed({level}, {"exec-shell"});
    EXPECT_FALSE(run.Has("SHELL-RAN")) << level << "\n" << run.output;
    EXPECT_TRUE(run.Has("ERROR Operation not permitted")) << run.output;
    EXPECT_EQ(Denied(SYS_execve), 1u) << level;
  }
  ProbeRun off = Unsandboxed({"exec-shell"});
  EXPECT_TRUE(off.Has("SHELL-RAN")) << off.output;
}

TEST_P(SandboxEscapeTest, KillActionEndsTheWorkerWithSigsys) {
  ProbeRun run = Sandboxed({"--level=strict", "--on-denial=kill"}, {"exec-shell"});
  EXPECT_EQ(run.Signal(), SIGSYS) << run.output;
  EXPECT_FALSE(run.Has("SHELL-RAN"));
  EXPECT_FALSE(run.Has("ERROR"));  // it never got to carry on
  EXPECT_EQ(Denied(SYS_execve), 1u);
}

TEST_P(SandboxEscapeTest, NoPtraceOfTheHost) {
  const std::string host = std::to_string(::getpid());
  ProbeRun strict = Strict({"ptrace", host});
  EXPECT_FALSE(strict.Has("TRACED")) << strict.output;
  EXPECT_GE(Denied(SYS_ptrace), 1u);
  ProbeRun off = Unsandboxed({"ptrace", host});
  EXPECT_TRUE(off.Has("TRACED")) << off.output;
}

TEST_P(SandboxEscapeTest, NoReadingTheHostsMemory) {
  const std::string host = std::to_string(::getpid());
  const std::string address = std::to_string(reinterpret_cast<uintptr_t>(memory_secret));
  const std::string length = std::to_string(std::strlen(memory_secret));
  for (const char* escape : {"proc-mem", "vm-read"}) {
    ProbeRun strict = Strict({escape, host, address, length});
    EXPECT_FALSE(strict.Has(memory_secret)) << escape << "\n" << strict.output;
    EXPECT_TRUE(strict.Has("ERROR")) << strict.output;
    if (std::string_view(escape) == "proc-mem" && kOpenRetrySupported) {
      EXPECT_EQ(Denied(SYS_openat), 1u) << "Landlock's refusal of /proc/<host>/mem, counted";
    }
    ProbeRun off = Unsandboxed({escape, host, address, length});
    EXPECT_TRUE(off.Has(memory_secret)) << escape << "\n" << off.output;
  }
  EXPECT_EQ(Denied(SYS_process_vm_readv), 1u);  // the last run's page: vm-read
}

TEST_P(SandboxEscapeTest, NoRaisingItsRlimits) {
  ProbeRun strict = Sandboxed({"--level=strict", "--lower-nofile=64"}, {"raise-rlimit"});
  EXPECT_TRUE(strict.Has("NOFILE 64")) << strict.output;
  EXPECT_TRUE(strict.Has("CORE 0")) << strict.output;
  EXPECT_EQ(Denied(SYS_prlimit64), 2u);  // glibc's setrlimit is prlimit64 too
  rlimit nofile;
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  ProbeRun off = Unsandboxed({"--lower-nofile=64", "raise-rlimit"});
  EXPECT_TRUE(off.Has(absl::StrCat("NOFILE ", nofile.rlim_max))) << off.output;
}

TEST_P(SandboxEscapeTest, NoSignalsToOtherProcesses) {
  const std::string host = std::to_string(::getpid());
  ProbeRun strict = Strict({"signal", host});
  EXPECT_FALSE(strict.Has("SIGNALED")) << strict.output;
  EXPECT_EQ(Denied(SYS_kill), 1u);
  ProbeRun off = Unsandboxed({"signal", host});
  EXPECT_TRUE(off.Has("SIGNALED")) << off.output;
}

// Signals to itself stay allowed (the filter names the worker's own pid): abort() works.
TEST_P(SandboxEscapeTest, AbortStillEndsTheWorker) {
  ProbeRun run = Strict({"abort"});
  EXPECT_EQ(run.Signal(), SIGABRT) << run.output;
  EXPECT_EQ(denials_->Total(), 0u);
}

TEST_P(SandboxEscapeTest, TheSigsysHandlerStays) {
  ProbeRun run = Strict({"replace-sigsys"});
  EXPECT_TRUE(run.Has("ERROR Operation not permitted")) << run.output;
  EXPECT_EQ(Denied(SYS_rt_sigaction), 1u);
  ProbeRun off = Unsandboxed({"replace-sigsys"});
  EXPECT_TRUE(off.Has("REPLACED")) << off.output;
}

TEST_P(SandboxEscapeTest, AWellBehavedModuleIsNeverDenied) {
  ProbeRun run = Strict({"threads", "4"});
  EXPECT_TRUE(run.Exited()) << run.output;
  EXPECT_TRUE(run.Has("THREADS 4")) << run.output;
  EXPECT_EQ(denials_->Total(), 0u) << run.output;
}

// The zygote's prediction of a worker's report (PreparedSandbox::PredictReport) is what the
// worker reports: plain strict, with cgroups, and with a fallback.
TEST_P(SandboxEscapeTest, TheZygotePredictsWhatTheWorkerReports) {
  if (!GetParam()) GTEST_SKIP() << "a zygote's prediction";
  ProbeRun strict = Strict({"threads", "1"});
  EXPECT_TRUE(strict.Has("PREDICTION-MATCHES")) << strict.output;
  ProbeRun fallback = Sandboxed({"--level=strict", absl::StrCat("--memory-limit=", 32 << 20)},
                                {"threads", "1"});
  EXPECT_TRUE(fallback.Has("FALLBACK memory: no memory cgroup")) << fallback.output;
  EXPECT_TRUE(fallback.Has("PREDICTION-MATCHES")) << fallback.output;
  const SandboxSupport& support = ProbeSandbox();
  if (!support.pids_cgroup.feature.usable) return;
  absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
      WorkerCgroups::Create("predicted", CgroupLimits{0, 16}, support);
  ASSERT_TRUE(cgroups.ok()) << cgroups.status();
  absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  ProbeRun limited = Sandboxed({"--level=strict", "--pids-limit=16",
                                absl::StrCat("--cgroup-fd=", ProbeFd(1)), "--cgroup-limits=pids"},
                               {"threads", "1"}, ticket->procs_fds);
  ticket->CloseDescriptors();
  (*cgroups)->Release(*ticket);
  EXPECT_TRUE(limited.Has("pids cgroup")) << limited.output;
  EXPECT_TRUE(limited.Has("PREDICTION-MATCHES")) << limited.output;
}

// AddressSanitizer's report comes out of a sandboxed worker, symbolized (it reads the
// executable: a runtime read path).
TEST_P(SandboxEscapeTest, SanitizerReportsComeOutSymbolized) {
#if defined(__SANITIZE_ADDRESS__)
  ProbeRun run = Strict({"heap-overflow"});
  EXPECT_TRUE(run.Has("AddressSanitizer: heap-buffer-overflow")) << run.output;
  EXPECT_TRUE(run.Has("sandbox_probe_main.cc")) << run.output;
  EXPECT_EQ(denials_->Total(), 0u) << run.output;
#else
  GTEST_SKIP() << "an AddressSanitizer build only";
#endif
}

TEST_P(SandboxEscapeTest, CpuBurnShowsOnItsCpuClock) {
  ProbeRun run = Strict({"burn-cpu", "50"});
  EXPECT_TRUE(run.Has("BURNED")) << run.output;
  // The process that burned it, as its parent reads its clock.
  absl::Duration cpu = run.cpu_time;
  if (GetParam()) {
    absl::string_view line = run.output;
    int64_t micros = 0;
    size_t at = line.find("CHILD-CPU ");
    ASSERT_NE(at, absl::string_view::npos) << run.output;
    line = line.substr(at + 10);
    ASSERT_TRUE(absl::SimpleAtoi(line.substr(0, line.find('\n')), &micros)) << run.output;
    cpu = absl::Microseconds(micros);
  }
  EXPECT_GE(cpu, absl::Milliseconds(50)) << run.output;
  EXPECT_EQ(denials_->Total(), 0u);
}

TEST_P(SandboxEscapeTest, MemoryCgroupEndsAnAllocationPastTheLimit) {
  const SandboxSupport& support = ProbeSandbox();
  if (!support.memory_cgroup.feature.usable) {
    GTEST_SKIP() << "no memory cgroup: " << support.memory_cgroup.feature.reason;
  }
  constexpr uint64_t kLimit = 32 << 20;
  absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
      WorkerCgroups::Create("hog", CgroupLimits{kLimit, 0}, support);
  ASSERT_TRUE(cgroups.ok()) << cgroups.status();
  absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  ProbeRun run = Sandboxed({"--level=strict", absl::StrCat("--memory-limit=", kLimit),
                            absl::StrCat("--cgroup-fd=", ProbeFd(1)), "--cgroup-limits=memory"},
                           {"allocate", "96"}, ticket->procs_fds);
  ticket->CloseDescriptors();
  EXPECT_TRUE(run.Has("memory cgroup")) << run.output;
  EXPECT_EQ(run.Signal(), SIGKILL) << run.output;
  EXPECT_LE(MostAllocated(run.output), 32u) << run.output;
  const std::vector<std::string> directories = ticket->directories;
  EXPECT_TRUE((*cgroups)->Release(*ticket).oom_killed);
  // The next worker gets the kept cgroup: the earlier kill is not its own.
  absl::StatusOr<CgroupTicket> next = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->directories, directories);
  ProbeRun small = Sandboxed({"--level=strict", absl::StrCat("--memory-limit=", kLimit),
                              absl::StrCat("--cgroup-fd=", ProbeFd(1)), "--cgroup-limits=memory"},
                             {"allocate", "8"}, next->procs_fds);
  next->CloseDescriptors();
  EXPECT_EQ(MostAllocated(small.output), 8u) << small.output;
  const CgroupExit small_exit = (*cgroups)->Release(*next);
  EXPECT_FALSE(small_exit.oom_killed);
  EXPECT_LT(small_exit.peak_memory_bytes, kLimit);
  ProbeRun off = Unsandboxed({"allocate", "96"});
  EXPECT_EQ(MostAllocated(off.output), 96u) << off.output;
}

TEST_P(SandboxEscapeTest, AddressSpaceLimitIsTheFallback) {
  if (fnhost::testing::kSanitized) GTEST_SKIP() << "sanitizers reserve terabytes of addresses";
  ProbeRun run = Sandboxed({"--level=strict", absl::StrCat("--memory-limit=", 32 << 20)},
                           {"allocate", "96"});
  EXPECT_TRUE(run.Has("FALLBACK memory: no memory cgroup (the worker was given none)"))
      << run.output;
  EXPECT_TRUE(run.Has("ALLOC-FAILED")) << run.output;
  EXPECT_LE(MostAllocated(run.output), 32u) << run.output;
}

INSTANTIATE_TEST_SUITE_P(SelfAndZygote, SandboxEscapeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ForkedFromAZygote" : "SandboxingItself";
                         });

}  // namespace
}  // namespace fnhost::sandbox
