// Process isolation of modules whose init leaves threads running (a thread pool kept in the
// state, an OpenMP runtime): a zygote with threads must not fork, so their workers fork from the
// point after loading and each restores the state from a snapshot written once (or runs the init,
// without snapshot support). Checked: the answers match the in-process ones; the zygote stays
// single-threaded while its workers have the pools; how many times the init runs (the module
// logs each run to a file); crashes, timeouts and the circuit breaker as for any module; the
// fork point in the metrics; and, as in the other isolation tests, that nothing leaks.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "fnhost/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/isolation/zygote_client.h"
#include "tests/support/process_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::ChildrenOfThisProcess;
using ::fnhost::testing::CountOpenFds;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

// What the test modules answer to "sum A B": the sum of i * i for i in [A, B).
std::string ExpectedSum(uint64_t from, uint64_t to) {
  uint64_t sum = 0;
  for (uint64_t i = from; i < to; ++i) sum += i * i;
  return absl::StrCat(sum);
}

int ThreadsOf(pid_t pid) {
  std::error_code error;
  int threads = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++threads;
  }
  return threads;
}

// The inode of the snapshot memfd that `pid` maps, or "" if it maps none.
std::string SnapshotMemfdInode(pid_t pid) {
  std::ifstream maps(absl::StrCat("/proc/", pid, "/maps"));
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:fnhost-snapshot") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode;
    fields >> range >> perms >> offset >> device >> inode;
    return inode;
  }
  return "";
}

// Lines in a file (the thread_pool module's init log), 0 if there is none.
int LinesIn(const std::string& path) {
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// Checks in TearDown that nothing leaked: descriptors, processes.
class LeakCheckedTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = CountOpenFds(); }
  void TearDown() override {
    EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty()) << "processes left behind";
    EXPECT_EQ(CountOpenFds(), fds_before_) << "descriptors leaked";
  }

  int fds_before_ = 0;
};

// ---- Through the zygote API ------------------------------------------------------------------

class ThreadedZygoteTest : public LeakCheckedTest {
 protected:
  static ZygoteOptions Options(const std::string& module, const std::string& init_config) {
    ZygoteOptions options;
    options.config.mutable_module()->set_function_name(module);
    options.config.mutable_module()->set_module_path(TestModule(module));
    options.config.mutable_module()->set_init_config(init_config);
    return options;
  }

  // Spawns a worker and checks its answer to "sum 0 N" and to "origin".
  void ExpectWorkerAnswers(Zygote& zygote, uint64_t entries, const std::string& origin) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = zygote.SpawnWorker();
    ASSERT_TRUE(worker.ok()) << worker.status();
    std::string response;
    ASSERT_TRUE((*worker)->Invoke(absl::StrCat("sum 0 ", entries), &response).ok());
    EXPECT_EQ(response, ExpectedSum(0, entries));
    ASSERT_TRUE((*worker)->Invoke("origin", &response).ok());
    EXPECT_EQ(response, origin);
    // The pool's two threads run in the worker (sanitizers may add their own)...
    EXPECT_GE(ThreadsOf((*worker)->pid()), 3);
    // ... and never in the zygote, which must stay able to fork.
    EXPECT_EQ(ThreadsOf(zygote.zygote_pid()), 1);
  }
};

TEST_F(ThreadedZygoteTest, AnInitThatLeavesThreadsMovesTheForkPointBeforeIt) {
  TempDir dir;
  const std::string log = dir.File("inits");
  absl::StatusOr<std::unique_ptr<Zygote>> zygote =
      Zygote::Start(Options("thread_pool", "5000 " + log));
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  const Zygote::StartReport& report = (*zygote)->start_report();
  EXPECT_EQ(report.fork_point, ForkPoint::kBeforeInit);
  EXPECT_GE(report.init_threads, 3);
  EXPECT_FALSE(report.workers_run_init);
  ASSERT_EQ(report.snapshot_events.size(), 1u);
  EXPECT_EQ(report.snapshot_events[0].kind, SnapshotEventKind::kWritten);
  EXPECT_EQ(report.snapshot_path, "(sealed memfd)");
  // Nothing on disk: the zygote maps the snapshot from a memfd.
  EXPECT_NE(SnapshotMemfdInode((*zygote)->zygote_pid()), "");
  for (int i = 0; i < 3; ++i) {
    ASSERT_NO_FATAL_FAILURE(ExpectWorkerAnswers(**zygote, 5000, "restore after_restore=1"));
  }
  EXPECT_EQ(LinesIn(log), 1);  // the first zygote's init, which found the threads
}

TEST_F(ThreadedZygoteTest, WithoutSnapshotsEachWorkerRunsTheInit) {
  TempDir dir;
  // A module without snapshot support, and one whose support is turned off.
  ZygoteOptions unsupported = Options("thread_pool_no_snapshot", "300 " + dir.File("a"));
  ZygoteOptions turned_off = Options("thread_pool", "300 " + dir.File("b"));
  turned_off.config.mutable_module()->set_use_snapshots(false);
  for (const ZygoteOptions& options : {unsupported, turned_off}) {
    absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
    ASSERT_TRUE(zygote.ok()) << zygote.status();
    EXPECT_EQ((*zygote)->start_report().fork_point, ForkPoint::kBeforeInit);
    EXPECT_TRUE((*zygote)->start_report().workers_run_init);
    EXPECT_EQ(SnapshotMemfdInode((*zygote)->zygote_pid()), "");
    for (int i = 0; i < 2; ++i) {
      ASSERT_NO_FATAL_FAILURE(ExpectWorkerAnswers(**zygote, 300, "init after_restore=0"));
    }
    // The first zygote's init, then one per worker.
    EXPECT_EQ(LinesIn(options.config.module().init_config().substr(4)), 3);
  }
}

TEST_F(ThreadedZygoteTest, DeclaredForkBeforeInitBuildsTheSnapshotInABuilder) {
  TempDir dir;
  const std::string log = dir.File("inits");
  ZygoteOptions options = Options("thread_pool", "700 " + log);
  options.config.set_fork_before_init(true);
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  EXPECT_EQ((*zygote)->start_report().fork_point, ForkPoint::kBeforeInit);
  EXPECT_GE((*zygote)->start_report().init_threads, 3);  // as the builder saw it
  ASSERT_NO_FATAL_FAILURE(ExpectWorkerAnswers(**zygote, 700, "restore after_restore=1"));
  ASSERT_NO_FATAL_FAILURE(ExpectWorkerAnswers(**zygote, 700, "restore after_restore=1"));
  EXPECT_EQ(LinesIn(log), 1);  // the builder's

  // A module without threads can be told so too.
  options = Options("snapshot_counter", "100");
  options.config.set_fork_before_init(true);
  zygote = Zygote::Start(options);
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::string response;
  ASSERT_TRUE((*worker)->Invoke("", &response).ok());
  EXPECT_THAT(response, StartsWith("origin=restore after_restore=1 entries=100 "));
}

TEST_F(ThreadedZygoteTest, ABuilderWhoseInitFailsFailsTheStartAsAnInitDoes) {
  ZygoteOptions options = Options("thread_pool", "many");
  options.config.set_fork_before_init(true);
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  EXPECT_EQ(zygote.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(zygote.status().message()),
              AllOf(StartsWith("function 'thread_pool': state init: "),
                    HasSubstr("init config must be an entry count"),
                    HasSubstr(TestModule("thread_pool"))));
}

TEST_F(ThreadedZygoteTest, ARestartedZygoteMapsTheSnapshotItAlreadyHas) {
  TempDir dir;
  const std::string log = dir.File("inits");
  absl::StatusOr<std::unique_ptr<Zygote>> zygote =
      Zygote::Start(Options("thread_pool", "400 " + log));
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  const pid_t first = (*zygote)->zygote_pid();
  const std::string inode = SnapshotMemfdInode(first);
  ASSERT_NE(inode, "");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, first, &info, WEXITED | WNOWAIT), 0);

  ASSERT_NO_FATAL_FAILURE(ExpectWorkerAnswers(**zygote, 400, "restore after_restore=1"));
  EXPECT_EQ((*zygote)->stats().zygote_restarts, 1);
  EXPECT_NE((*zygote)->zygote_pid(), first);
  // The same memfd, not a snapshot built again: the init ran once, in the first zygote.
  EXPECT_EQ(SnapshotMemfdInode((*zygote)->zygote_pid()), inode);
  EXPECT_EQ(LinesIn(log), 1);
}

TEST_F(ThreadedZygoteTest, AModuleThatStartsThreadsWhenLoadedIsRefused) {
  absl::StatusOr<std::unique_ptr<Zygote>> zygote =
      Zygote::Start(Options("thread_pool_at_load", ""));
  EXPECT_EQ(zygote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(zygote.status().message()),
              AllOf(StartsWith("function 'thread_pool_at_load': loading module "),
                    HasSubstr("thread(s) (in the constructors of the module or of its "
                              "libraries) before any init")));
}

TEST_F(ThreadedZygoteTest, AnOpenMpModuleRunsIsolated) {
  if (!std::filesystem::exists(TestModule("openmp"))) {
    GTEST_SKIP() << "built without an OpenMP runtime";
  }
  if (kThreadSanitizer) GTEST_SKIP() << "the OpenMP runtime is not built with ThreadSanitizer";
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(Options("openmp", "3000"));
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  EXPECT_EQ((*zygote)->start_report().fork_point, ForkPoint::kBeforeInit);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
    ASSERT_TRUE(worker.ok()) << worker.status();
    for (auto [from, to] : {std::pair{0, 3000}, std::pair{17, 2048}}) {
      std::string response;
      ASSERT_TRUE((*worker)->Invoke(absl::StrCat("sum ", from, " ", to), &response).ok());
      EXPECT_EQ(response, ExpectedSum(from, to));
    }
  }
  EXPECT_EQ(ThreadsOf((*zygote)->zygote_pid()), 1);
}

// ---- Through the Host ------------------------------------------------------------------------

class ThreadedHostTest : public LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    host_ = NewHost("");
    ASSERT_NE(host_, nullptr);
  }
  void TearDown() override {
    host_.reset();
    LeakCheckedTest::TearDown();
  }

  std::unique_ptr<Host> NewHost(const std::string& snapshot_dir) {
    HostOptions options = testing::ManualHostOptions(&clock_, &aggregator_);
    options.snapshot_dir = snapshot_dir;
    absl::StatusOr<std::unique_ptr<Host>> host = HostForTesting::Create(options);
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? *std::move(host) : nullptr;
  }

  static FunctionSpec Spec(const std::string& name, const std::string& module,
                           const std::string& init_config, bool isolated) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule(module);
    spec.init_config = init_config;
    if (isolated) spec.isolation.mode = IsolationOptions::Mode::kProcess;
    return spec;
  }

  // `function` answers "sum 0 N" correctly.
  void ExpectServes(Host& host, const std::string& function, uint64_t entries) {
    absl::StatusOr<std::string> response = host.Invoke(function, absl::StrCat("sum 0 ", entries));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(*response, ExpectedSum(0, entries));
  }

  FakeClock clock_;
  MetricsAggregator aggregator_;
  std::unique_ptr<Host> host_;
};

class ThreadedModuleAnswersTest : public ThreadedHostTest,
                                  public ::testing::WithParamInterface<const char*> {};

TEST_P(ThreadedModuleAnswersTest, AnswersMatchInProcessOnes) {
  const std::string module = GetParam();
  ASSERT_TRUE(host_->Register(Spec("in_process", module, "2000", false)).ok());
  ASSERT_TRUE(host_->Register(Spec("isolated", module, "2000", true)).ok());
  ASSERT_TRUE(host_->Register(Spec("plain", "hello", "", true)).ok());
  for (const char* request : {"sum 0 2000", "sum 7 1234", "sum 5 5", "echo me", "sum 3 1"}) {
    absl::StatusOr<std::string> expected = host_->Invoke("in_process", request);
    absl::StatusOr<std::string> isolated = host_->Invoke("isolated", request);
    ASSERT_EQ(isolated.status().code(), expected.status().code()) << request;
    if (expected.ok()) {
      EXPECT_EQ(*isolated, *expected) << request;
    } else {
      // The same message, naming the function it was called as.
      EXPECT_THAT(std::string(isolated.status().message()),
                  HasSubstr("bad range in 'sum 3 1'"));
    }
  }
  ASSERT_TRUE(host_->Invoke("plain", "x").ok());
  EXPECT_EQ(aggregator_.Totals("isolated").isolation_mode, "fork_before_init");
  EXPECT_EQ(aggregator_.Totals("plain").isolation_mode, "fork_after_init");
  EXPECT_EQ(aggregator_.Totals("in_process").isolation_mode, "");
  const std::string prometheus = aggregator_.RenderPrometheus();
  EXPECT_THAT(prometheus,
              AllOf(HasSubstr("fnhost_isolation_mode{function=\"isolated\","
                              "mode=\"fork_before_init\"} 1\n"),
                    HasSubstr("fnhost_isolation_mode{function=\"isolated\","
                              "mode=\"fork_after_init\"} 0\n"),
                    HasSubstr("fnhost_isolation_mode{function=\"plain\","
                              "mode=\"fork_after_init\"} 1\n")));
}

INSTANTIATE_TEST_SUITE_P(Modules, ThreadedModuleAnswersTest,
                         ::testing::Values("thread_pool", "thread_pool_no_snapshot"));

TEST_F(ThreadedHostTest, CrashesAndTimeoutsEndOneWorkerOfAThreadedModule) {
  FunctionSpec spec = Spec("pool", "thread_pool", "100", true);
  spec.isolation.invoke_timeout = absl::Milliseconds(200);  // a kill deadline, not an assertion
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 100));

  absl::StatusOr<std::string> crashed = host_->Invoke("pool", "crash");
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(crashed.status().message()),
              AllOf(StartsWith("function 'pool': worker "),
                    HasSubstr("killed by signal SIGSEGV (Segmentation fault) during invoke")));
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 100));

  absl::StatusOr<std::string> hung = host_->Invoke("pool", "spin");
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(hung.status().message()), HasSubstr("did not finish within 200ms"));
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 100));

  const MetricsAggregator::FunctionTotals totals = aggregator_.Totals("pool");
  EXPECT_EQ(totals.worker_crashes, 2);
  EXPECT_EQ(totals.worker_spawns, 3);
  const std::string crashes = "fnhost_worker_crashes_total{function=\"pool\",reason=";
  EXPECT_THAT(aggregator_.RenderPrometheus(),
              AllOf(HasSubstr(crashes + "\"SIGSEGV\"} 1\n"),
                    HasSubstr(crashes + "\"timeout\"} 1\n")));
}

TEST_F(ThreadedHostTest, TheCircuitBreakerHoldsForAThreadedModule) {
  FunctionSpec spec = Spec("pool", "thread_pool", "100", true);
  spec.isolation.crash_limit = 2;
  ASSERT_TRUE(host_->Register(spec).ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(host_->Invoke("pool", "crash").status().code(), absl::StatusCode::kUnavailable);
  }
  absl::StatusOr<std::string> refused = host_->Invoke("pool", "sum 0 100");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()),
              StartsWith("function 'pool' is crash-looping (2 worker crashes within 1m)"));
  clock_.Advance(absl::Seconds(30));
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 100));
}

TEST_F(ThreadedHostTest, AfterScaleToZeroTheNextStartForksBeforeInitAtOnce) {
  TempDir dir;
  const std::string log = dir.File("inits");
  FunctionSpec spec = Spec("pool", "thread_pool_no_snapshot", "200 " + log, true);
  spec.pool.keep_alive.idle_timeout = absl::Minutes(1);
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 200));
  EXPECT_EQ(LinesIn(log), 2);  // the init that found the threads, then the worker's
  clock_.Advance(absl::Minutes(2));
  HostForTesting::RunMaintenance(*host_);
  ASSERT_EQ(aggregator_.Totals("pool").unloads, 1);
  // Remembered for the version: no zygote runs the init to find out again.
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host_, "pool", 200));
  EXPECT_EQ(LinesIn(log), 3);
  EXPECT_EQ(aggregator_.Totals("pool").isolation_mode, "fork_before_init");
}

TEST_F(ThreadedHostTest, TheSnapshotDirectoryHoldsAThreadedModulesSnapshot) {
  TempDir snapshots;
  TempDir dir;
  const std::string log = dir.File("inits");
  std::unique_ptr<Host> host = NewHost(snapshots.path());
  ASSERT_NE(host, nullptr);
  const FunctionSpec spec = Spec("pool", "thread_pool", "600 " + log, true);
  ASSERT_TRUE(host->Register(spec).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host, "pool", 600));
  EXPECT_EQ(LinesIn(log), 1);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(snapshots.path())) {
    files += entry.path().extension() == ".snap";
  }
  EXPECT_EQ(files, 1);

  // A new version (a restarted server alike) restores from it: no init at all.
  ASSERT_TRUE(host->Unregister("pool").ok());
  ASSERT_TRUE(host->Register(spec).ok());
  absl::StatusOr<std::string> origin = host->Invoke("pool", "origin");
  ASSERT_TRUE(origin.ok()) << origin.status();
  EXPECT_EQ(*origin, "restore after_restore=1");
  ASSERT_NO_FATAL_FAILURE(ExpectServes(*host, "pool", 600));
  EXPECT_EQ(LinesIn(log), 1);
  EXPECT_EQ(aggregator_.Totals("pool").snapshots_restored, 1);
}

}  // namespace
}  // namespace fnhost
