// The host's pieces of the worker sandbox, without a worker: the per-call CPU budget on a clock
// the test drives, the denial counts as the host reads them from a worker's page (a page the
// module can scribble on), and the sandbox's way from the FunctionSpec to the zygote and back.
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/function_spec.h"
#include "fnhost/sandbox_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/isolation/cpu_budget.h"
#include "src/isolation/sandbox_config.h"
#include "src/isolation/worker_sandbox.h"
#include "src/sandbox/denial_counters.h"

namespace fnhost::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CpuBudgetTest : public ::testing::Test {
 protected:
  // 100 ms per call on 2 CPUs, read from `now_`.
  CpuBudget budget_{[this]() -> absl::StatusOr<absl::Duration> { return now_; },
                    absl::Milliseconds(100), 2};
  absl::StatusOr<absl::Duration> now_ = absl::Seconds(5);  // the worker's CPU time so far
};

TEST_F(CpuBudgetTest, CountsFromTheStartOfTheCall) {
  budget_.Start();
  // The soonest 2 CPUs could use 100 ms: 50 ms of wall time.
  EXPECT_EQ(budget_.NextCheck(), absl::Milliseconds(50));
  now_ = absl::Seconds(5) + absl::Milliseconds(60);
  EXPECT_TRUE(budget_.Check().ok());
  EXPECT_EQ(budget_.used(), absl::Milliseconds(60));
  EXPECT_EQ(budget_.NextCheck(), absl::Milliseconds(20));
  // Close to the limit, never less than a millisecond: a caller does not spin.
  now_ = absl::Seconds(5) + absl::Microseconds(99900);
  EXPECT_TRUE(budget_.Check().ok());
  EXPECT_EQ(budget_.NextCheck(), absl::Milliseconds(1));
}

TEST_F(CpuBudgetTest, PastTheLimitIsDeadlineExceededWithTheReasonCpuTime) {
  budget_.Start();
  now_ = absl::Seconds(5) + absl::Milliseconds(100);
  const absl::Status status = budget_.Check();
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_EQ(SandboxLimitReason(status), "cpu_time");
  EXPECT_THAT(status.message(), HasSubstr("used 100ms of CPU time"));
  EXPECT_THAT(status.message(), HasSubstr("cpu_time_limit of 100ms"));
  // The next call starts afresh.
  budget_.Start();
  now_ = absl::Seconds(5) + absl::Milliseconds(150);
  EXPECT_TRUE(budget_.Check().ok());
}

TEST_F(CpuBudgetTest, AWorkerThatIsGoneIsNotPastItsLimit) {
  budget_.Start();
  now_ = absl::NotFoundError("clock_gettime (process CPU clock): No such file or directory");
  EXPECT_TRUE(budget_.Check().ok());  // its channel says how it ended
}

TEST(CpuBudgetForProcessTest, ReadsAProcessClock) {
  absl::StatusOr<CpuBudget> budget = CpuBudget::ForProcess(::getpid(), absl::Hours(1));
  ASSERT_TRUE(budget.ok()) << budget.status();
  budget->Start();
  EXPECT_TRUE(budget->Check().ok());
  EXPECT_FALSE(CpuBudget::ForProcess(-5, absl::Hours(1)).ok());
}

TEST(WorkerSandboxViewTest, ReportsNewDenialsOnceAndNeverBackwards) {
  absl::StatusOr<std::unique_ptr<sandbox::SandboxDenials>> worker = sandbox::SandboxDenials::Create();
  ASSERT_TRUE(worker.ok()) << worker.status();
  sandbox::DenialPage* page = (*worker)->page();
  WorkerSandboxView view;
  ASSERT_TRUE(view.Start(::dup((*worker)->fd()), "").ok());
  EXPECT_TRUE(view.TakeNewDenials().empty());
  page->by_syscall[SYS_execve].fetch_add(2);
  page->total.fetch_add(2);
  std::vector<sandbox::DenialCount> fresh = view.TakeNewDenials();
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].name, "execve");
  EXPECT_EQ(fresh[0].count, 2u);
  EXPECT_TRUE(view.TakeNewDenials().empty());
  // A module that rewrites its page lowers nothing; a later real denial still counts.
  page->by_syscall[SYS_execve].store(0);
  page->total.fetch_add(1);
  EXPECT_TRUE(view.TakeNewDenials().empty());
  page->by_syscall[SYS_execve].store(3);
  page->total.fetch_add(1);
  fresh = view.TakeNewDenials();
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].count, 1u);
}

TEST(WorkerSandboxViewTest, RefusesAReportThatIsNotOne) {
  WorkerSandboxView view;
  EXPECT_TRUE(absl::IsDataLoss(view.Start(-1, "\xff\xff\xff")));
  zygote::SandboxInForce in_force;
  in_force.set_level("strict");
  WorkerSandboxView good;
  ASSERT_TRUE(good.Start(-1, in_force.SerializeAsString()).ok());
  ASSERT_NE(good.in_force(), nullptr);
  EXPECT_EQ(good.in_force()->level(), "strict");
  EXPECT_EQ(WorkerSandboxView().in_force(), nullptr);
}

TEST(SandboxConfigTest, TheZygoteReadsThePolicyTheHostSent) {
  SandboxOptions options;
  options.level = SandboxOptions::Level::kBasic;
  options.on_denial = SandboxOptions::OnDenial::kKill;
  options.allow_syscalls = {"memfd_create"};
  options.read_paths = {"/usr/share"};
  options.write_paths = {"/tmp"};
  options.allow_network = true;
  options.count_refused_opens = false;
  options.memory_limit_bytes = 1 << 30;
  options.pids_limit = 9;
  std::optional<zygote::SandboxConfig> config = ZygoteSandboxConfig(options);
  ASSERT_TRUE(config.has_value());
  EXPECT_TRUE(config->has_support());
  const SandboxOptions read = OptionsOf(*config);
  EXPECT_EQ(read.level, options.level);
  EXPECT_EQ(read.on_denial, options.on_denial);
  EXPECT_EQ(read.allow_syscalls, options.allow_syscalls);
  EXPECT_EQ(read.read_paths, options.read_paths);
  EXPECT_EQ(read.write_paths, options.write_paths);
  EXPECT_TRUE(read.allow_network);
  EXPECT_FALSE(read.count_refused_opens);
  EXPECT_EQ(read.memory_limit_bytes, options.memory_limit_bytes);
  EXPECT_EQ(read.pids_limit, 9u);
  // The probe travels with it.
  EXPECT_EQ(SupportOf(config->support()).Describe(), sandbox::ProbeSandbox().Describe());
  // Off: the zygote gets nothing (a CPU limit is the host's own business).
  options.level = SandboxOptions::Level::kOff;
  options.cpu_time_limit = absl::Seconds(1);
  EXPECT_FALSE(ZygoteSandboxConfig(options).has_value());
  EXPECT_TRUE(HasSandbox(options));
  EXPECT_FALSE(HasSandbox(SandboxOptions()));
}

TEST(SandboxConfigTest, WhatAWorkerReportsIsWhatTheMetricShows) {
  sandbox::SandboxReport report;
  report.level = SandboxOptions::Level::kStrict;
  report.network = sandbox::NetworkIsolation::kUserAndNetworkNamespace;
  report.memory = sandbox::MemoryLimit::kAddressSpace;
  report.files = sandbox::FileRules::kLandlock;
  report.tcp_denied_by_landlock = true;
  report.syscalls = sandbox::SyscallFilter::kAllowList;
  report.fallbacks = {"memory: no memory cgroup (x); RLIMIT_AS in force"};
  const zygote::SandboxInForce in_force = InForceOf(report, 1 << 20);
  EXPECT_EQ(in_force.memory_limit_bytes(), 1u << 20);
  EXPECT_THAT(in_force.summary(), HasSubstr("memory RLIMIT_AS"));
  std::vector<std::string> pairs;
  for (const SandboxLayerInForce& layer : LayersOf(in_force, "none")) {
    pairs.push_back(std::string(layer.layer) + "=" + std::string(layer.mechanism));
  }
  EXPECT_THAT(pairs, ElementsAre("level=strict", "network=user_and_network_namespace",
                                 "memory=rlimit_as", "pids=none", "files=landlock",
                                 "tcp=landlock", "syscalls=allow_list", "capabilities=none",
                                 "cpu_time=none"));
}

}  // namespace
}  // namespace fnhost::internal
