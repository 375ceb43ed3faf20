// The sandbox layer's pieces, in this process: policy validation, the feature probe, the
// denial counter page, the CPU clock helpers and the worker cgroups. The escapes themselves
// are in sandbox_escape_test.cc.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/sandbox/cgroups.h"
#include "src/sandbox/cpu_clock.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/files.h"
#include "src/sandbox/sandbox.h"
#include "src/sandbox/sandbox_policy.h"
#include "src/sandbox/sandbox_support.h"

namespace fnhost::sandbox {
namespace {

using ::testing::HasSubstr;

TEST(SandboxPolicyTest, ResolvesSyscallNames) {
  SandboxPolicy policy;
  policy.allow_syscalls = {"memfd_create", "execve"};
  absl::StatusOr<ValidatedPolicy> validated = ValidateSandboxPolicy("f", policy);
  ASSERT_TRUE(validated.ok()) << validated.status();
  EXPECT_THAT(validated->allow_syscall_numbers,
              ::testing::ElementsAre(SYS_memfd_create, SYS_execve));
}

TEST(SandboxPolicyTest, UnknownSyscallNameIsNamed) {
  SandboxPolicy policy;
  policy.allow_syscalls = {"read", "frobnicate"};
  absl::StatusOr<ValidatedPolicy> validated = ValidateSandboxPolicy("resizer", policy);
  ASSERT_EQ(validated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(validated.status().message(), HasSubstr("function 'resizer'"));
  EXPECT_THAT(validated.status().message(), HasSubstr("'frobnicate'"));
}

TEST(SandboxPolicyTest, PathsMustBeAbsoluteAndExist) {
  SandboxPolicy relative;
  relative.read_paths = {"data/model.bin"};
  absl::Status status = ValidateSandboxPolicy("f", relative).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("read_paths entry 'data/model.bin'"));
  EXPECT_THAT(status.message(), HasSubstr("not an absolute path"));

  SandboxPolicy missing;
  missing.write_paths = {"/nonexistent/fnhost-sandbox-test"};
  status = ValidateSandboxPolicy("f", missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("write_paths entry '/nonexistent/fnhost-sandbox-test'"));
  EXPECT_THAT(status.message(), HasSubstr("No such file"));
}

TEST(SandboxPolicyTest, Levels) {
  for (SandboxLevel level : {SandboxLevel::kOff, SandboxLevel::kBasic, SandboxLevel::kStrict}) {
    absl::StatusOr<SandboxLevel> parsed = ParseLevel(LevelName(level));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, level);
  }
  EXPECT_THAT(ParseLevel("paranoid").status().message(), HasSubstr("'paranoid'"));
}

TEST(SandboxSupportTest, ProbeIsCachedAndConsistent) {
  const SandboxSupport& support = ProbeSandbox();
  EXPECT_EQ(&support, &ProbeSandbox());
  EXPECT_EQ(support.landlock.usable, support.landlock_abi > 0);
  for (const Feature* feature :
       {&support.seccomp, &support.landlock, &support.network_namespace,
        &support.memory_cgroup.feature, &support.pids_cgroup.feature, &support.rlimit_nproc,
        &support.process_cpu_clock}) {
    // A feature that does not work says why.
    EXPECT_EQ(feature->usable, feature->reason.empty()) << feature->reason;
  }
  EXPECT_TRUE(support.process_cpu_clock.usable) << support.process_cpu_clock.reason;
  std::string description = support.Describe();
  for (const char* name : {"seccomp-bpf: ", "landlock: ", "network namespace: ",
                           "memory cgroup: ", "pids cgroup: ", "RLIMIT_NPROC: "}) {
    EXPECT_THAT(description, HasSubstr(name));
  }
  // What this machine gave, for the log of the run.
  std::printf("%s", description.c_str());
}

TEST(SandboxDenialsTest, CountsAreReadByName) {
  absl::StatusOr<std::unique_ptr<SandboxDenials>> denials = SandboxDenials::Create();
  ASSERT_TRUE(denials.ok()) << denials.status();
  DenialPage* page = (*denials)->page();
  page->by_syscall[SYS_execve].fetch_add(2);
  page->by_syscall[DenialPage::kSlots - 1].fetch_add(1);
  page->total.fetch_add(3);
  // The host maps the same page read-only from the descriptor.
  absl::StatusOr<std::unique_ptr<SandboxDenials>> host =
      SandboxDenials::Map(::fcntl((*denials)->fd(), F_DUPFD_CLOEXEC, 0));
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ((*host)->Total(), 3u);
  EXPECT_EQ((*host)->Count(SYS_execve), 2u);
  std::vector<DenialCount> counts = (*host)->Read();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].name, "execve");
  EXPECT_EQ(counts[0].count, 2u);
  EXPECT_EQ(counts[1].name, "other");
  // A page without the magic (scribbled on) reads as empty.
  page->magic.store(0);
  EXPECT_EQ((*host)->Total(), 0u);
  EXPECT_TRUE((*host)->Read().empty());
}

TEST(SandboxDenialsTest, RefusesAPageThatCouldShrink) {
  int fd = ::memfd_create("not-sealed", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  absl::Status status = SandboxDenials::Map(fd).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("sealed"));
}

TEST(SandboxDenialsTest, SyscallNames) {
  EXPECT_EQ(SyscallName(SYS_ptrace), "ptrace");
  EXPECT_EQ(SyscallName(100000), "syscall_100000");
}

TEST(CpuClockTest, CheckIntervalNeverLetsTheLimitPass) {
  const absl::Duration limit = absl::Milliseconds(100);
  // One CPU: the remaining budget is also the wall time it takes at the least.
  EXPECT_EQ(CpuCheckInterval(absl::Milliseconds(40), limit, 1), absl::Milliseconds(60));
  // Two CPUs burn it twice as fast.
  EXPECT_EQ(CpuCheckInterval(absl::Milliseconds(40), limit, 2), absl::Milliseconds(30));
  EXPECT_EQ(CpuCheckInterval(absl::Milliseconds(99.9), limit, 2), absl::Milliseconds(1));
  EXPECT_EQ(CpuCheckInterval(limit, limit, 2), absl::ZeroDuration());
  EXPECT_EQ(CpuCheckInterval(absl::Milliseconds(10), limit, 0), absl::Milliseconds(90));
}

TEST(CpuClockTest, ReadsThisProcessAndRefusesMissingOnes) {
  absl::StatusOr<ProcessCpuClock> self = ProcessCpuClock::ForProcess(::getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  absl::StatusOr<absl::Duration> before = self->Now();
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<absl::Duration> thread = ProcessCpuClock::ForThisThread().Now();
  ASSERT_TRUE(thread.ok());
  EXPECT_GT(*thread, absl::ZeroDuration());
  // pid_max is at most 2^22: this pid cannot exist.
  absl::StatusOr<ProcessCpuClock> missing = ProcessCpuClock::ForProcess(1 << 23);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST(SandboxReportTest, SummaryNamesEachLayer) {
  SandboxReport report;
  EXPECT_EQ(report.Summary(), "off");
  report.level = SandboxLevel::kStrict;
  report.network = NetworkIsolation::kNamespace;
  report.memory = MemoryLimit::kAddressSpace;
  report.pids = PidsLimit::kCgroup;
  report.files = FileRules::kLandlock;
  report.landlock_abi = 7;
  report.tcp_denied_by_landlock = true;
  report.syscalls = SyscallFilter::kAllowList;
  report.capabilities_dropped = true;
  EXPECT_EQ(report.Summary(),
            "strict: network namespace, memory RLIMIT_AS, pids cgroup, Landlock ABI 7 with TCP "
            "rules, seccomp allow-list, no capabilities");
}

// Skips unless this host can make memory and pids cgroups for workers.
#define SKIP_WITHOUT_WORKER_CGROUPS(support)                                              \
  if (!(support).memory_cgroup.feature.usable || !(support).pids_cgroup.feature.usable) { \
    GTEST_SKIP() << "no delegatable memory and pids cgroups here: "                      \
                 << (support).memory_cgroup.feature.reason                                \
                 << (support).pids_cgroup.feature.reason;                                 \
  }

TEST(WorkerCgroupsTest, MakesKeepsAndRemovesAWorkersCgroups) {
  const SandboxSupport& support = ProbeSandbox();
  SKIP_WITHOUT_WORKER_CGROUPS(support);
  std::string function_directory;
  {
    absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
        WorkerCgroups::Create("sandbox/test", CgroupLimits{64 << 20, 16}, support);
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    EXPECT_TRUE((*cgroups)->limits_memory());
    EXPECT_TRUE((*cgroups)->limits_pids());
    absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
    ASSERT_TRUE(ticket.ok()) << ticket.status();
    ASSERT_FALSE(ticket->directories.empty());
    EXPECT_EQ(ticket->procs_fds.size(), ticket->directories.size());
    const std::vector<std::string> directories = ticket->directories;
    function_directory = std::filesystem::path(directories[0]).parent_path();
    // The function's name, made safe for a path.
    EXPECT_THAT(function_directory, HasSubstr("sandbox_test"));
    EXPECT_TRUE(std::filesystem::is_directory(directories[0]));
    CgroupExit exit = (*cgroups)->Release(*ticket);
    EXPECT_FALSE(exit.oom_killed);
    EXPECT_EQ(exit.forks_refused, 0u);
    EXPECT_TRUE(ticket->procs_fds.empty());
    EXPECT_TRUE(ticket->directories.empty());
    // Empty: kept for the next worker, limits and all.
    EXPECT_TRUE(std::filesystem::is_directory(directories[0]));
    absl::StatusOr<CgroupTicket> next = (*cgroups)->PrepareWorker();
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->directories, directories);
    EXPECT_EQ(next->procs_fds.size(), directories.size());
    (*cgroups)->Release(*next);
  }
  EXPECT_FALSE(std::filesystem::exists(function_directory));
}

// This process's descriptors on files whose path contains `word`.
std::vector<int> DescriptorsOn(const std::string& word) {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (!error && target.find(word) != std::string::npos) {
      found.push_back(std::stoi(entry.path().filename().string()));
    }
  }
  return found;
}

// The control files a kept cgroup's next worker needs stay open, above the floor that a worker
// closes from, and close with the cgroup.
TEST(WorkerCgroupsTest, HoldsAKeptCgroupsFilesAboveTheFloor) {
  const SandboxSupport& support = ProbeSandbox();
  SKIP_WITHOUT_WORKER_CGROUPS(support);
  {
    absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
        WorkerCgroups::Create("sandbox_held", CgroupLimits{64 << 20, 16}, support);
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    const int floor = (*cgroups)->descriptor_floor();
    if (floor == 0) GTEST_SKIP() << "RLIMIT_NOFILE leaves no room for held descriptors";
    absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
    ASSERT_TRUE(ticket.ok()) << ticket.status();
    ticket->CloseDescriptors();  // as a zygote does once it has joined
    const std::vector<int> held = DescriptorsOn("sandbox_held");
    EXPECT_FALSE(held.empty());
    for (int fd : held) EXPECT_GE(fd, floor);
    const std::vector<std::string> directories = ticket->directories;
    (*cgroups)->Release(*ticket);
    EXPECT_EQ(DescriptorsOn("sandbox_held"), held);  // kept, and its files with it
    absl::StatusOr<CgroupTicket> next = (*cgroups)->PrepareWorker();
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->directories, directories);
    EXPECT_EQ(DescriptorsOn("sandbox_held").size(), held.size() + next->procs_fds.size());
    (*cgroups)->Release(*next);
  }
  EXPECT_THAT(DescriptorsOn("sandbox_held"), ::testing::IsEmpty());
}

// A cgroup that still holds a process is not handed to another worker.
TEST(WorkerCgroupsTest, ACgroupWithAProcessLeftIsNotKept) {
  const SandboxSupport& support = ProbeSandbox();
  SKIP_WITHOUT_WORKER_CGROUPS(support);
  absl::StatusOr<std::unique_ptr<WorkerCgroups>> cgroups =
      WorkerCgroups::Create("sandbox/left", CgroupLimits{64 << 20, 16}, support);
  ASSERT_TRUE(cgroups.ok()) << cgroups.status();
  absl::StatusOr<CgroupTicket> ticket = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  int hold[2];
  int joined[2];
  ASSERT_EQ(::pipe(hold), 0);
  ASSERT_EQ(::pipe(joined), 0);
  pid_t left = ::fork();
  if (left == 0) {
    // Joins, says so, then waits for the test to close its end of `hold` (not for time).
    char byte = 'j';
    ::close(hold[1]);
    ::close(joined[0]);
    if (!JoinCgroups(*ticket).ok() || ::write(joined[1], &byte, 1) != 1) ::_exit(1);
    ::_exit(::read(hold[0], &byte, 1) == 0 ? 0 : 2);
  }
  ASSERT_GT(left, 0);
  ::close(hold[0]);
  ::close(joined[1]);
  ticket->CloseDescriptors();
  char byte = 0;
  // Returns at the child's 'j', or at its exit (0 bytes).
  ASSERT_EQ(::read(joined[0], &byte, 1), 1);
  ::close(joined[0]);
  ASSERT_THAT(ReadControlFile(ticket->directories[0] + "/cgroup.procs").value_or(""),
              HasSubstr(std::to_string(left)));
  const std::vector<std::string> directories = ticket->directories;
  (*cgroups)->Release(*ticket);
  absl::StatusOr<CgroupTicket> next = (*cgroups)->PrepareWorker();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->directories, directories);
  ::close(hold[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(left, &status, 0), left);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  (*cgroups)->Release(*next);
}

}  // namespace
}  // namespace fnhost::sandbox
