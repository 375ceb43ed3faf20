// The worker sandbox through the real Host, in process isolation. The escape_artist module
// (tests/modules/escape_artist.cc) tries each escape of tests/support/escapes.h from inside a
// worker of "strict" (the strict sandbox) and of "open" (the same module without one). Each
// test checks that the escape's effect is absent under the sandbox (the secret is in no
// response, no file appeared, the listener saw no connection, no process beyond the limit),
// that the caller got a clear status, that the attempt was counted (the denial metric where
// seccomp refused it; the lost-worker metric where a limit ended it), that the same escape
// succeeds without the sandbox, so that the test can fail, and that the host kept serving an
// in-process function throughout.
//
// Not labelled concurrency: a ThreadSanitizer runtime cannot live under seccomp and Landlock.

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/sandbox/open_retry.h"
#include "src/sandbox/sandbox_support.h"
#include "tests/support/async_util.h"
#include "tests/support/escape_targets.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::sandbox::kOpenRetrySupported;
using ::fnhost::testing::CountChildren;
using ::fnhost::testing::Listener;
using ::fnhost::testing::PrometheusValue;
using ::fnhost::testing::RandomSecret;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;
using ::testing::Not;

// What the escapes may try to read from this process's memory.
char memory_secret[64];

constexpr uint64_t kMemoryLimit = 64 << 20;
constexpr absl::Duration kCpuLimit = absl::Milliseconds(200);

class SandboxHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const sandbox::SandboxSupport& support = sandbox::ProbeSandbox();
    if (!support.seccomp.usable || !support.landlock.usable) {
      GTEST_SKIP() << "the strict sandbox needs seccomp and Landlock: " << support.Describe();
    }
    std::filesystem::create_directory(dir_.File("readable"));
    dir_.Write("readable/allowed.txt", "allowed-content");
    secret_ = RandomSecret("SECRET-");
    dir_.Write("secret.txt", secret_, 0644);
    std::snprintf(memory_secret, sizeof(memory_secret), "%s", RandomSecret("MEM-").c_str());
    HostOptions options;
    options.metrics_sink = &metrics_;
    host_ = *HostForTesting::Create(options);
    ASSERT_TRUE(host_->Register(Strict("strict")).ok());
    ASSERT_TRUE(host_->Register(Isolated("open")).ok());
    FunctionSpec hello;
    hello.name = "hello";
    hello.module_path = TestModule("hello");
    ASSERT_TRUE(host_->Register(hello).ok());
  }

  // The escape artist in process isolation, no sandbox. A call is bounded (the test's bound
  // should a limit under test fail).
  FunctionSpec Isolated(const std::string& name) const {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule("escape_artist");
    spec.isolation.mode = IsolationOptions::Mode::kProcess;
    spec.isolation.invoke_timeout = absl::Seconds(60);
    return spec;
  }
  // With the strict sandbox: readable/ readable, nowhere writable, the limits above.
  FunctionSpec Strict(const std::string& name) const {
    FunctionSpec spec = Isolated(name);
    spec.sandbox.level = SandboxOptions::Level::kStrict;
    spec.sandbox.read_paths = {dir_.File("readable")};
    spec.sandbox.memory_limit_bytes = kMemoryLimit;
    spec.sandbox.pids_limit = 8;
    spec.sandbox.cpu_time_limit = kCpuLimit;
    return spec;
  }

  absl::StatusOr<std::string> Call(const std::string& function, const std::string& request) {
    return host_->Invoke(function, request);
  }
  // The response, or the error's message: what the escape got, either way.
  static std::string Text(const absl::StatusOr<std::string>& result) {
    return result.ok() ? *result : std::string(result.status().message());
  }
  void ExpectOthersServe() {
    EXPECT_EQ(Text(Call("hello", "world")), "hello, world");
  }
  std::string Metric(const std::string& series) {
    return PrometheusValue(metrics_.RenderPrometheus(), series);
  }
  int64_t Denied(const std::string& function, const std::string& syscall) {
    int64_t count = 0;
    return absl::SimpleAtoi(Metric(absl::StrCat("fnhost_sandbox_denials_total{function=\"",
                                                function, "\",syscall=\"", syscall, "\"}")),
                            &count)
               ? count
               : 0;
  }
  std::string Lost(const std::string& function, const std::string& reason) {
    return Metric(absl::StrCat("fnhost_worker_crashes_total{function=\"", function,
                               "\",reason=\"", reason, "\"}"));
  }
  pid_t WorkerPid(const std::string& function) {
    absl::StatusOr<std::string> pid = Call(function, "pid");
    int value = 0;
    EXPECT_TRUE(pid.ok() && absl::SimpleAtoi(pid->substr(4), &value)) << Text(pid);
    return value;
  }

  TempDir dir_;
  std::string secret_;
  MetricsAggregator metrics_;
  std::unique_ptr<Host> host_;
};

TEST_F(SandboxHostTest, ReadsNothingOutsideItsReadPaths) {
  absl::StatusOr<std::string> read = Call("strict", "read-file " + dir_.File("secret.txt"));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied) << read.status();
  EXPECT_THAT(Text(read), Not(HasSubstr(secret_)));
  const int64_t counted = kOpenRetrySupported ? 1 : 0;  // Landlock's refusals, where counted
  EXPECT_EQ(Denied("strict", "openat"), counted);
  EXPECT_EQ(Text(Call("strict", "read-file " + dir_.File("readable/allowed.txt"))),
            "READ allowed-content");
  // Its own /proc entries: a rule each worker adds for itself.
  EXPECT_THAT(Text(Call("strict", "read-file /proc/self/status")), HasSubstr("READ Name:"));
  EXPECT_EQ(Denied("strict", "openat"), counted);
  // The host's memory, through /proc: Landlock refuses the path.
  const std::string host_memory =
      absl::StrCat(::getpid(), " ", reinterpret_cast<uintptr_t>(memory_secret), " ",
                   std::strlen(memory_secret));
  absl::StatusOr<std::string> proc = Call("strict", "proc-mem " + host_memory);
  EXPECT_EQ(proc.status().code(), absl::StatusCode::kPermissionDenied) << proc.status();
  EXPECT_THAT(Text(proc), Not(HasSubstr(memory_secret)));
  EXPECT_EQ(Denied("strict", "openat"), 2 * counted);
  // ... and seccomp the direct way.
  absl::StatusOr<std::string> direct = Call("strict", "vm-read " + host_memory);
  EXPECT_EQ(direct.status().code(), absl::StatusCode::kPermissionDenied) << direct.status();
  EXPECT_EQ(Denied("strict", "process_vm_readv"), 1);
  ExpectOthersServe();

  EXPECT_THAT(Text(Call("open", "read-file " + dir_.File("secret.txt"))), HasSubstr(secret_));
  EXPECT_THAT(Text(Call("open", "proc-mem " + host_memory)), HasSubstr(memory_secret));
}

// Module code that runs when a worker makes its instance, before its first call, is under the
// sandbox too.
TEST_F(SandboxHostTest, MakesItsInstanceUnderTheSandbox) {
  const std::string escape = "instance-escape read-file " + dir_.File("secret.txt");
  FunctionSpec strict = Strict("strict_instance");
  strict.init_config = escape;
  ASSERT_TRUE(host_->Register(strict).ok());
  absl::StatusOr<std::string> read = Call("strict_instance", "instance-escape");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied) << read.status();
  EXPECT_THAT(Text(read), Not(HasSubstr(secret_)));
  ExpectOthersServe();

  FunctionSpec open = Isolated("open_instance");
  open.init_config = escape;
  ASSERT_TRUE(host_->Register(open).ok());
  EXPECT_THAT(Text(Call("open_instance", "instance-escape")), HasSubstr(secret_));
}

// The zygote holds its workers' cgroup control files open from one worker to the next (a write
// to cgroup.procs moves a process); a worker must hold none of them when module code runs.
TEST_F(SandboxHostTest, HoldsNoDescriptorOnACgroup) {
  absl::StatusOr<std::string> listed = Call("strict", "descriptors");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, HasSubstr("socket:"));  // its channel: the listing sees descriptors
  EXPECT_THAT(*listed, Not(HasSubstr("cgroup")));
  ExpectOthersServe();
}

TEST_F(SandboxHostTest, WritesNoFile) {
  const std::string outside = dir_.File("outside.txt");
  absl::StatusOr<std::string> write = Call("strict", "write-file " + outside);
  EXPECT_EQ(write.status().code(), absl::StatusCode::kPermissionDenied) << write.status();
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_EQ(Denied("strict", "openat"), 1);
  ExpectOthersServe();

  EXPECT_EQ(Text(Call("open", "write-file " + outside)), "WROTE");
  EXPECT_TRUE(std::filesystem::exists(outside));
}

// With write_paths, writes there work, and only there (Landlock decides).
TEST_F(SandboxHostTest, WritesOnlyInItsWritePaths) {
  std::filesystem::create_directory(dir_.File("writable"));
  FunctionSpec spec = Strict("writer");
  spec.sandbox.write_paths = {dir_.File("writable")};
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_EQ(Text(Call("writer", "write-file " + dir_.File("writable/inside.txt"))), "WROTE");
  EXPECT_TRUE(std::filesystem::exists(dir_.File("writable/inside.txt")));
  absl::StatusOr<std::string> outside = Call("writer", "write-file " + dir_.File("outside.txt"));
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kPermissionDenied) << outside.status();
  EXPECT_FALSE(std::filesystem::exists(dir_.File("outside.txt")));
  EXPECT_EQ(Denied("writer", "openat"), kOpenRetrySupported ? 1 : 0);
}

TEST_F(SandboxHostTest, MakesNoConnection) {
  Listener listener;
  absl::StatusOr<std::string> strict = Call("strict", "connect " + listener.port());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kPermissionDenied) << strict.status();
  EXPECT_FALSE(listener.SawConnection());
  EXPECT_EQ(Denied("strict", "socket"), 1);
  ExpectOthersServe();

  EXPECT_EQ(Text(Call("open", "connect " + listener.port())), "CONNECTED");
  EXPECT_TRUE(listener.SawConnection());
}

TEST_F(SandboxHostTest, ForksNoProcess) {
  absl::StatusOr<std::string> fork = Call("strict", "fork");
  EXPECT_EQ(fork.status().code(), absl::StatusCode::kPermissionDenied) << fork.status();
  // At most 32 children, held until "release": the test counts them from outside.
  absl::StatusOr<std::string> bomb = Call("strict", "fork-bomb 32 hold");
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kPermissionDenied) << bomb.status();
  EXPECT_THAT(Text(bomb), HasSubstr("FORKS 0"));
  EXPECT_EQ(CountChildren(WorkerPid("strict")), 0);
  EXPECT_EQ(Denied("strict", "clone"), 33);
  ExpectOthersServe();

  EXPECT_EQ(Text(Call("open", "fork-bomb 32 hold")), "FORKS 32");
  EXPECT_EQ(CountChildren(WorkerPid("open")), 32);
  EXPECT_EQ(Text(Call("open", "release")), "RELEASED 32");
}

// Where seccomp lets clone through (allow_syscalls), the pids limit still holds.
TEST_F(SandboxHostTest, PidsLimitHoldsWhereSeccompAllowsForks) {
  const sandbox::SandboxSupport& support = sandbox::ProbeSandbox();
  if (!support.pids_cgroup.feature.usable && !support.rlimit_nproc.usable) {
    GTEST_SKIP() << "no pids cgroup (" << support.pids_cgroup.feature.reason
                 << ") and no RLIMIT_NPROC (" << support.rlimit_nproc.reason << ")";
  }
  FunctionSpec spec = Strict("forker");
  spec.sandbox.allow_syscalls = {"clone", "wait4"};
  ASSERT_TRUE(host_->Register(spec).ok());
  absl::StatusOr<std::string> bomb = Call("forker", "fork-bomb 32 hold");
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kResourceExhausted) << bomb.status();
  // The worker is one of its 8 processes.
  const int children = CountChildren(WorkerPid("forker"));
  EXPECT_GE(children, 1);
  EXPECT_LE(children, 7);
  EXPECT_EQ(Text(Call("forker", "release")), absl::StrCat("RELEASED ", children));
  ExpectOthersServe();
}

TEST_F(SandboxHostTest, ExecsNoShell) {
  const std::string ran = dir_.File("shell-ran");
  absl::StatusOr<std::string> exec = Call("strict", "exec-shell " + ran);
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kPermissionDenied) << exec.status();
  EXPECT_FALSE(std::filesystem::exists(ran));
  EXPECT_EQ(Denied("strict", "execve"), 1);
  ExpectOthersServe();

  // The shell replaces the worker, writes its file and exits: the call loses its worker.
  absl::StatusOr<std::string> open = Call("open", "exec-shell " + ran);
  EXPECT_EQ(open.status().code(), absl::StatusCode::kUnavailable) << open.status();
  EXPECT_TRUE(std::filesystem::exists(ran));
}

TEST_F(SandboxHostTest, TracesNotItsParent) {
  absl::StatusOr<std::string> trace = Call("strict", "ptrace-parent");
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kPermissionDenied) << trace.status();
  EXPECT_EQ(Denied("strict", "ptrace"), 1);
  ExpectOthersServe();

  EXPECT_EQ(Text(Call("open", "ptrace-parent")), "TRACED");
}

TEST_F(SandboxHostTest, RaisesNoRlimit) {
  absl::StatusOr<std::string> raise = Call("strict", "raise-rlimit");
  EXPECT_EQ(raise.status().code(), absl::StatusCode::kPermissionDenied) << raise.status();
  EXPECT_THAT(Text(raise), HasSubstr("CORE 0"));  // the sandbox's own, and it stays
  EXPECT_EQ(Denied("strict", "prlimit64"), 2);    // glibc's setrlimit is prlimit64 too
  ExpectOthersServe();

  rlimit nofile;
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  EXPECT_THAT(Text(Call("open", "raise-rlimit")),
              HasSubstr(absl::StrCat("NOFILE ", nofile.rlim_max)));
}

TEST_F(SandboxHostTest, BurnsNoMoreThanItsCpuTime) {
  absl::StatusOr<std::string> burn = Call("strict", "burn-cpu 60000");
  EXPECT_EQ(burn.status().code(), absl::StatusCode::kDeadlineExceeded) << burn.status();
  EXPECT_EQ(SandboxLimitReason(burn.status()), "cpu_time");
  EXPECT_THAT(burn.status().message(), HasSubstr("cpu_time_limit of 200ms"));
  EXPECT_EQ(Lost("strict", "cpu_time"), "1");
  ExpectOthersServe();
  // A call that sleeps twice its CPU limit uses none of it; a new worker serves it.
  EXPECT_EQ(Text(Call("strict", absl::StrCat("sleep ", 2 * absl::ToInt64Milliseconds(kCpuLimit)))),
            "SLEPT");

  EXPECT_THAT(Text(Call("open", "burn-cpu 300")), HasSubstr("BURNED"));
}

// Asynchronous calls complete from the poller, not from a waiting caller: the CPU limit, the
// denial counts and the worker-loss reasons hold for them as for blocking calls.
TEST_F(SandboxHostTest, AsyncCallsGetTheSameLimitsDenialsAndLossReasons) {
  absl::StatusOr<FunctionHandle> strict = host_->Lookup("strict");
  ASSERT_TRUE(strict.ok()) << strict.status();
  testing::Completions done;
  // A request's bytes must outlive its call.
  const std::string ran = dir_.File("shell-ran");
  const std::string burn = "burn-cpu 60000", exec_shell = "exec-shell " + ran,
                    sleep = absl::StrCat("sleep ", 2 * absl::ToInt64Milliseconds(kCpuLimit));
  std::string burned, exec, slept;
  host_->InvokeAsync(*strict, burn, &burned, done.Callback("burn"));
  ASSERT_TRUE(done.Await("burn"));
  EXPECT_EQ(done.status("burn").code(), absl::StatusCode::kDeadlineExceeded)
      << done.status("burn");
  EXPECT_EQ(SandboxLimitReason(done.status("burn")), "cpu_time");
  EXPECT_THAT(done.status("burn").message(), HasSubstr("cpu_time_limit of 200ms"));
  EXPECT_EQ(Lost("strict", "cpu_time"), "1");
  EXPECT_EQ(Lost("strict", "watchdog"), "");

  host_->InvokeAsync(*strict, exec_shell, &exec, done.Callback("exec"));
  ASSERT_TRUE(done.Await("exec"));
  EXPECT_EQ(done.status("exec").code(), absl::StatusCode::kPermissionDenied)
      << done.status("exec");
  EXPECT_FALSE(std::filesystem::exists(ran));
  EXPECT_EQ(Denied("strict", "execve"), 1);

  // Twice the CPU limit asleep: the poller's checks find no CPU time used.
  host_->InvokeAsync(*strict, sleep, &slept, done.Callback("sleep"));
  ASSERT_TRUE(done.Await("sleep"));
  EXPECT_TRUE(done.status("sleep").ok()) << done.status("sleep");
  EXPECT_EQ(slept, "SLEPT");
  ExpectOthersServe();
}

TEST_F(SandboxHostTest, AllocatesNoMoreThanItsMemoryLimit) {
  // The strict limits with the CPU time limit far off: the limit under test is the memory's,
  // and faulting in 64 MiB takes some 200 ms of CPU where a page fault costs 10 us (a
  // paravirtualized VM), which would reach the 200 ms limit first.
  FunctionSpec spec = Strict("hog");
  spec.sandbox.cpu_time_limit = absl::Seconds(60);
  ASSERT_TRUE(host_->Register(spec).ok());
  absl::StatusOr<std::string> hog = Call("hog", "allocate 256");
  EXPECT_EQ(hog.status().code(), absl::StatusCode::kResourceExhausted) << hog.status();
  EXPECT_THAT(Text(hog), Not(HasSubstr("ALLOCATED 256")));
  const std::string memory = metrics_.Totals("hog").sandbox_in_force.at("memory");
  if (memory == "cgroup") {
    // The OOM killer ended the worker; the status says which limit.
    EXPECT_EQ(SandboxLimitReason(hog.status()), "memory");
    EXPECT_EQ(Lost("hog", "memory_limit"), "1");
  } else {
    EXPECT_EQ(memory, "rlimit_as");  // the allocation failed in the module
    EXPECT_THAT(Text(hog), HasSubstr("ALLOC-FAILED"));
  }
  ExpectOthersServe();

  EXPECT_THAT(Text(Call("open", "allocate 256")), HasSubstr("ALLOCATED 256"));
}

TEST_F(SandboxHostTest, KillActionEndsTheWorker) {
  FunctionSpec spec = Strict("killer");
  spec.sandbox.on_denial = SandboxOptions::OnDenial::kKill;
  ASSERT_TRUE(host_->Register(spec).ok());
  const std::string ran = dir_.File("shell-ran");
  absl::StatusOr<std::string> exec = Call("killer", "exec-shell " + ran);
  EXPECT_EQ(exec.status().code(), absl::StatusCode::kUnavailable) << exec.status();
  EXPECT_THAT(exec.status().message(), HasSubstr("SIGSYS"));
  EXPECT_THAT(exec.status().message(), HasSubstr("on_denial KILL"));
  EXPECT_FALSE(std::filesystem::exists(ran));
  EXPECT_EQ(Denied("killer", "execve"), 1);
  EXPECT_EQ(Lost("killer", "SIGSYS"), "1");
  EXPECT_EQ(Text(Call("killer", "none")), "OK");  // a new worker
  ExpectOthersServe();
}

// Every open traps where Landlock's refusals are counted, and a thread that blocks SIGSYS (as
// Boost.Asio's pool threads do) cannot take the trap: the caller is told so, and
// count_refused_opens: false serves such a module.
TEST_F(SandboxHostTest, AThreadBlockingSignalsNeedsOpensUncounted) {
  if (!kOpenRetrySupported) GTEST_SKIP() << "opens are not trapped on this architecture";
  const std::string request = "read-file-signals-blocked " + dir_.File("readable/allowed.txt");
  absl::StatusOr<std::string> trapped = Call("strict", request);
  EXPECT_EQ(trapped.status().code(), absl::StatusCode::kUnavailable) << trapped.status();
  EXPECT_THAT(trapped.status().message(), HasSubstr("count_refused_opens"));
  ExpectOthersServe();

  FunctionSpec uncounted = Strict("uncounted");
  uncounted.sandbox.count_refused_opens = false;
  ASSERT_TRUE(host_->Register(uncounted).ok());
  EXPECT_EQ(Text(Call("uncounted", request)), "READ allowed-content");
  absl::StatusOr<std::string> secret =
      Call("uncounted", "read-file-signals-blocked " + dir_.File("secret.txt"));
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kPermissionDenied) << secret.status();
  EXPECT_THAT(Text(secret), Not(HasSubstr(secret_)));
  EXPECT_EQ(Denied("uncounted", "openat"), 0);
}

TEST_F(SandboxHostTest, AWellBehavedCallIsNeverDeniedAndTheMetricsSayWhatIsInForce) {
  EXPECT_EQ(Text(Call("strict", "threads 4")), "THREADS 4");
  const MetricsAggregator::FunctionTotals totals = metrics_.Totals("strict");
  EXPECT_EQ(totals.sandbox_denials, 0);
  const std::map<std::string, std::string>& in_force = totals.sandbox_in_force;
  EXPECT_EQ(in_force.at("level"), "strict");
  EXPECT_THAT(in_force.at("network"), HasSubstr("namespace"));
  EXPECT_EQ(in_force.at("files"), "landlock");
  EXPECT_EQ(in_force.at("syscalls"), "allow_list");
  EXPECT_EQ(in_force.at("capabilities"), "dropped");
  EXPECT_EQ(in_force.at("cpu_time"), "process_cpu_clock");
  EXPECT_NE(in_force.at("memory"), "none");
  EXPECT_EQ(Metric(absl::StrCat("fnhost_sandbox_in_force{function=\"strict\",layer=\"memory\","
                                "mechanism=\"", in_force.at("memory"), "\"}")),
            "1");
  // A function without a sandbox reports none.
  EXPECT_EQ(Text(Call("open", "none")), "OK");
  EXPECT_TRUE(metrics_.Totals("open").sandbox_in_force.empty());
}

TEST_F(SandboxHostTest, RegisterRefusesWhatCannotBeEnforced) {
  FunctionSpec in_process = Strict("in_process");
  in_process.isolation.mode = IsolationOptions::Mode::kInProcess;
  absl::Status status = host_->Register(in_process);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("function 'in_process'"));
  EXPECT_THAT(status.message(), HasSubstr("process isolation"));

  FunctionSpec typo = Strict("typo");
  typo.sandbox.allow_syscalls = {"no_such_call"};
  status = host_->Register(typo);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("'no_such_call' is not a system call"));

  // A relative path is made absolute against the current directory, as module_path is.
  FunctionSpec relative = Strict("relative");
  relative.sandbox.read_paths = {"no-such-dir-for-the-sandbox"};
  status = host_->Register(relative);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(std::filesystem::current_path() / "no-such-dir-for-the-sandbox"));

  FunctionSpec twice = Strict("twice");
  twice.isolation.memory_limit_bytes = kMemoryLimit;
  status = host_->Register(twice);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("give the memory limit once"));
}

}  // namespace
}  // namespace fnhost
