// Process isolation: a zygote per function version, workers forked from it. Each hostile module
// ends one worker with an error that names the function and the cause, and the zygote serves
// again with a fresh worker; bad modules fail as they do in process; nothing leaks (descriptors,
// processes). Every test checks for leaks in TearDown. Some tests run threads (label
// `concurrency` on the whole binary).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/file_system.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_client.h"
#include "src/loader/module_loader.h"
#include "tests/support/process_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::ChildrenOfThisProcess;
using ::fnhost::testing::CountOpenFds;
using ::fnhost::testing::kSanitized;
using ::fnhost::testing::ProcessExists;
using ::fnhost::testing::TestModule;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

ZygoteOptions Options(const std::string& module) {
  ZygoteOptions options;
  options.config.mutable_module()->set_function_name(module);
  options.config.mutable_module()->set_module_path(TestModule(module));
  return options;
}

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = CountOpenFds(); }
  void TearDown() override {
    EXPECT_EQ(CountOpenFds(), fds_before_) << "descriptors leaked";
    EXPECT_THAT(ChildrenOfThisProcess(), ::testing::IsEmpty()) << "processes left behind";
  }

  std::unique_ptr<Zygote> StartZygote(const ZygoteOptions& options) {
    absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
    EXPECT_TRUE(zygote.ok()) << zygote.status();
    return zygote.ok() ? *std::move(zygote) : nullptr;
  }

  std::unique_ptr<Worker> Spawn(Zygote& zygote) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = zygote.SpawnWorker();
    EXPECT_TRUE(worker.ok()) << worker.status();
    return worker.ok() ? *std::move(worker) : nullptr;
  }

  // A fresh worker of `zygote` answers: the function serves again after a fault. The hostile
  // modules echo; `prefix` is what the module puts before the request.
  void ExpectServesAgain(Zygote& zygote, const std::string& prefix = "") {
    std::unique_ptr<Worker> worker = Spawn(zygote);
    ASSERT_NE(worker, nullptr);
    std::string response;
    ASSERT_TRUE(worker->Invoke("still there?", &response).ok());
    EXPECT_EQ(response, prefix + "still there?");
  }

  // Runs `request` on a fresh worker of a module that faults on it; returns the call's status.
  absl::Status Fault(Zygote& zygote, std::string_view request, pid_t* pid = nullptr) {
    std::unique_ptr<Worker> worker = Spawn(zygote);
    if (worker == nullptr) return absl::InternalError("no worker");
    if (pid != nullptr) *pid = worker->pid();
    std::string response = "stale";
    absl::Status status = worker->Invoke(request, &response);
    EXPECT_EQ(response, "");
    EXPECT_FALSE(worker->alive());
    lost_reason_ = worker->lost_reason();
    absl::Status again = worker->Invoke("echo", &response);
    EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
    return status;
  }

  int fds_before_ = 0;
  std::string lost_reason_;  // of the worker of the latest Fault
};

TEST_F(IsolationTest, RoundTrips) {
  ZygoteOptions options = Options("hello");
  options.config.mutable_module()->set_init_config("hi");
  std::unique_ptr<Zygote> zygote = StartZygote(options);
  ASSERT_NE(zygote, nullptr);
  EXPECT_EQ(zygote->module_name(), "hello");
  EXPECT_EQ(zygote->module_version(), "1.0.0");
  EXPECT_EQ(zygote->max_concurrency(), 1);
  std::unique_ptr<Worker> worker = Spawn(*zygote);
  ASSERT_NE(worker, nullptr);
  EXPECT_TRUE(worker->alive());
  EXPECT_NE(worker->pid(), zygote->zygote_pid());

  std::string response;
  ASSERT_TRUE(worker->Invoke("world", &response).ok());
  EXPECT_EQ(response, "hi, world");
  ASSERT_TRUE(worker->Invoke("", &response).ok());
  EXPECT_EQ(response, "hi, ");
  // Larger than any socket buffer, so both directions take many partial reads and writes.
  std::string big(8 << 20, 'x');
  ASSERT_TRUE(worker->Invoke(big, &response).ok());
  EXPECT_EQ(response, "hi, " + big);
  EXPECT_EQ(zygote->stats().workers_spawned, 1);
  EXPECT_EQ(zygote->stats().worker_crashes, 0);
}

// The zygote's malloc backs its mappings with transparent huge pages (fewer page-table entries
// for fork to copy): GLIBC_TUNABLES gains glibc.malloc.hugetlb=1 after the host's own tunables,
// and a host that set hugetlb itself keeps its choice.
TEST_F(IsolationTest, ZygoteEnvironmentAsksMallocForHugePages) {
  const char* saved = std::getenv("GLIBC_TUNABLES");
  const std::string restore = saved != nullptr ? saved : "";
  auto zygote_tunables = [this]() -> std::string {
    std::unique_ptr<Zygote> zygote = StartZygote(Options("hello"));
    if (zygote == nullptr) return "no zygote";
    // glibc ends each tunable it parsed with a NUL in place, so that /proc shows the value's
    // later tunables as entries of their own: they are joined back.
    const std::string environ =
        testing::ReadFileBytes(absl::StrCat("/proc/", zygote->zygote_pid(), "/environ"));
    std::string tunables = "none";
    bool in_tunables = false;
    for (absl::string_view entry : absl::StrSplit(environ, '\0')) {
      if (absl::ConsumePrefix(&entry, "GLIBC_TUNABLES=")) {
        tunables = std::string(entry);
        in_tunables = true;
      } else if (in_tunables && absl::StartsWith(entry, "glibc.")) {
        absl::StrAppend(&tunables, ":", entry);
      } else {
        in_tunables = false;
      }
    }
    return tunables;
  };
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.check=0", 1);
  EXPECT_EQ(zygote_tunables(), "glibc.malloc.check=0:glibc.malloc.hugetlb=1");
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0", 1);
  EXPECT_EQ(zygote_tunables(), "glibc.malloc.hugetlb=0");
  ::unsetenv("GLIBC_TUNABLES");
  EXPECT_EQ(zygote_tunables(), "glibc.malloc.hugetlb=1");
  if (saved != nullptr) ::setenv("GLIBC_TUNABLES", restore.c_str(), 1);
}

TEST_F(IsolationTest, ModuleErrorsPassThroughAndTheWorkerStays) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("returns_error"));
  ASSERT_NE(zygote, nullptr);
  std::unique_ptr<Worker> worker = Spawn(*zygote);
  ASSERT_NE(worker, nullptr);
  std::string response;
  for (int i = 0; i < 2; ++i) {
    absl::Status status = worker->Invoke("x", &response);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    // As the in-process host words it (CallOutput::ToStatus).
    EXPECT_EQ(status.message(), "function 'returns_error': invoke: bad request: x");
    EXPECT_TRUE(worker->alive());
  }
}

TEST_F(IsolationTest, EveryWorkerRunsThePostForkHookOnce) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("snapshot_counter"));
  ASSERT_NE(zygote, nullptr);
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<Worker> worker = Spawn(*zygote);
    ASSERT_NE(worker, nullptr);
    std::string response;
    ASSERT_TRUE(worker->Invoke("", &response).ok());
    EXPECT_THAT(response, HasSubstr("origin=init after_restore=1 "));
  }
}

TEST_F(IsolationTest, OversizedMessagesFailTheCallOnly) {
  ZygoteOptions options = Options("hello");
  options.config.mutable_worker()->set_max_message_bytes(1024);
  std::unique_ptr<Zygote> zygote = StartZygote(options);
  ASSERT_NE(zygote, nullptr);
  std::unique_ptr<Worker> worker = Spawn(*zygote);
  ASSERT_NE(worker, nullptr);
  std::string response;
  absl::Status status = worker->Invoke(std::string(1025, 'x'), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("request of 1025 bytes is above max_message_bytes"));
  EXPECT_TRUE(worker->Invoke("a", &response).ok());
  // A response above the bound fails that call only.
  status = worker->Invoke(std::string(1020, 'x'), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "function 'hello': response of 1027 bytes is above max_message_bytes 1024");
  EXPECT_TRUE(worker->alive());
  EXPECT_TRUE(worker->Invoke("b", &response).ok());
  EXPECT_EQ(response, "hello, b");
}

TEST_F(IsolationTest, SegfaultEndsOneWorkerAndNamesTheSignal) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("segfault"));
  ASSERT_NE(zygote, nullptr);
  pid_t pid = 0;
  absl::Status status = Fault(*zygote, "crash", &pid);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            absl::StrCat("function 'segfault': worker ", pid,
                         " killed by signal SIGSEGV (Segmentation fault) during invoke"));
  EXPECT_EQ(lost_reason_, "SIGSEGV");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
  EXPECT_EQ(zygote->stats().worker_crashes, 1);
  EXPECT_EQ(zygote->stats().workers_spawned, 2);
}

TEST_F(IsolationTest, AbortNamesSigabrt) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("abort"));
  ASSERT_NE(zygote, nullptr);
  absl::Status status = Fault(*zygote, "abort");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'abort': worker "),
                    HasSubstr("killed by signal SIGABRT (Aborted)")));
  EXPECT_EQ(lost_reason_, "SIGABRT");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
}

TEST_F(IsolationTest, EndlessLoopIsKilledAtTheTimeout) {
  ZygoteOptions options = Options("loop_forever");
  options.invoke_timeout = absl::Milliseconds(200);  // a kill deadline, not a timing assertion
  std::unique_ptr<Zygote> zygote = StartZygote(options);
  ASSERT_NE(zygote, nullptr);
  pid_t pid = 0;
  absl::Status status = Fault(*zygote, "spin", &pid);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(), absl::StrCat("function 'loop_forever': invoke did not finish "
                                           "within 200ms; worker ",
                                           pid, " killed"));
  EXPECT_EQ(lost_reason_, "timeout");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
  EXPECT_EQ(zygote->stats().worker_timeouts, 1);
  EXPECT_EQ(zygote->stats().worker_crashes, 1);
}

TEST_F(IsolationTest, UnboundedAllocationHitsTheMemoryLimit) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes reserve terabytes of address space";
  ZygoteOptions options = Options("alloc_unbounded");
  options.config.mutable_worker()->set_memory_limit_bytes(64 << 20);
  std::unique_ptr<Zygote> zygote = StartZygote(options);
  ASSERT_NE(zygote, nullptr);
  absl::Status status = Fault(*zygote, "alloc");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'alloc_unbounded': worker "),
                    HasSubstr("reached its memory limit of 67108864 bytes"),
                    HasSubstr("std::bad_alloc"), HasSubstr("the worker exits")));
  EXPECT_EQ(lost_reason_, "memory_limit");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
  EXPECT_EQ(zygote->stats().worker_crashes, 1);
}

TEST_F(IsolationTest, ExitInTheMiddleOfACall) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("exit_mid_call"));
  ASSERT_NE(zygote, nullptr);
  pid_t pid = 0;
  absl::Status status = Fault(*zygote, "exit", &pid);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), absl::StrCat("function 'exit_mid_call': worker ", pid,
                                           " exited with status 0 during invoke"));
  EXPECT_EQ(lost_reason_, "exit");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
}

TEST_F(IsolationTest, GarbageOnTheChannelIsCaught) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("garbage_ipc"));
  ASSERT_NE(zygote, nullptr);
  absl::Status status = Fault(*zygote, "write:this is not a frame at all");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("function 'garbage_ipc': worker "),
                    HasSubstr("broke the channel protocol during invoke (bad frame magic")));
  EXPECT_EQ(lost_reason_, "protocol");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));

  // A well-formed header announcing 4 GiB: refused before anything is allocated.
  internal::FrameHeader header{internal::kFrameMagic, internal::FrameType::kResponse, 0, 0,
                               0xfffffff0u};
  status = Fault(*zygote,
                 "write:" + std::string(reinterpret_cast<const char*>(&header), sizeof(header)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("frame of 4294967280 bytes exceeds the limit"));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
}

TEST_F(IsolationTest, ClosedChannelEndsTheWorker) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("close_ipc"));
  ASSERT_NE(zygote, nullptr);
  absl::Status status = Fault(*zygote, "close");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), AllOf(StartsWith("function 'close_ipc': worker "),
                                                   HasSubstr("closed its channel during invoke")));
  EXPECT_EQ(lost_reason_, "channel");
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
}

TEST_F(IsolationTest, WhatAWorkerForksDiesWithIt) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("fork_children"));
  ASSERT_NE(zygote, nullptr);
  pid_t child = 0;
  {
    std::unique_ptr<Worker> worker = Spawn(*zygote);
    ASSERT_NE(worker, nullptr);
    std::string response;
    ASSERT_TRUE(worker->Invoke("fork", &response).ok());
    ASSERT_TRUE(absl::SimpleAtoi(response, &child)) << response;
    EXPECT_TRUE(ProcessExists(child));
    // The child holds a copy of the worker's channel; the worker still serves.
    ASSERT_TRUE(worker->Invoke("echo", &response).ok());
    EXPECT_EQ(response, "echo");
  }
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
  zygote.reset();
  EXPECT_FALSE(ProcessExists(child));
}

TEST_F(IsolationTest, ACrashInOneFunctionLeavesAnotherServing) {
  std::unique_ptr<Zygote> healthy = StartZygote(Options("hello"));
  ASSERT_NE(healthy, nullptr);
  std::unique_ptr<Worker> worker = Spawn(*healthy);
  ASSERT_NE(worker, nullptr);
  struct Hostile {
    const char* module;
    const char* request;
  };
  for (const Hostile& hostile :
       {Hostile{"segfault", "crash"}, Hostile{"abort", "abort"}, Hostile{"exit_mid_call", "exit"},
        Hostile{"close_ipc", "close"}, Hostile{"garbage_ipc", "write:garbage!!!!!!!!"}}) {
    SCOPED_TRACE(hostile.module);
    std::unique_ptr<Zygote> zygote = StartZygote(Options(hostile.module));
    ASSERT_NE(zygote, nullptr);
    EXPECT_FALSE(Fault(*zygote, hostile.request).ok());
    std::string response;
    ASSERT_TRUE(worker->Invoke("world", &response).ok());
    EXPECT_EQ(response, "hello, world");
  }
  EXPECT_EQ(healthy->stats().worker_crashes, 0);
}

TEST_F(IsolationTest, HealthyWorkersServeWhileAnotherFunctionCrashesOnAnotherThread) {
  std::unique_ptr<Zygote> healthy = StartZygote(Options("hello"));
  ZygoteOptions hostile_options = Options("segfault");
  hostile_options.crash_limit = 0;
  std::unique_ptr<Zygote> hostile = StartZygote(hostile_options);
  ASSERT_NE(healthy, nullptr);
  ASSERT_NE(hostile, nullptr);
  std::atomic<bool> crashing{true};
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      absl::StatusOr<std::unique_ptr<Worker>> worker = healthy->SpawnWorker();
      if (!worker.ok()) {
        ++failures;
        return;
      }
      std::string response;
      for (int calls = 0; calls < 200 || crashing.load(); ++calls) {
        if (!(*worker)->Invoke("world", &response).ok() || response != "hello, world") {
          ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = hostile->SpawnWorker();
    ASSERT_TRUE(worker.ok()) << worker.status();
    std::string response;
    EXPECT_EQ((*worker)->Invoke("crash", &response).code(), absl::StatusCode::kUnavailable);
  }
  crashing = false;
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(hostile->stats().worker_crashes, 10);
}

TEST_F(IsolationTest, SpawnsFromManyThreadsAtOnce) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("hello"));
  ASSERT_NE(zygote, nullptr);
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        absl::StatusOr<std::unique_ptr<Worker>> worker = zygote->SpawnWorker();
        std::string response;
        if (worker.ok() && (*worker)->Invoke("x", &response).ok()) ++served;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(served.load(), 20);
  EXPECT_EQ(zygote->stats().workers_spawned, 20);
}

TEST_F(IsolationTest, KilledZygoteIsRestarted) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("hello"));
  ASSERT_NE(zygote, nullptr);
  std::unique_ptr<Worker> old_worker = Spawn(*zygote);
  ASSERT_NE(old_worker, nullptr);
  pid_t old_zygote = zygote->zygote_pid();
  ASSERT_EQ(::kill(old_zygote, SIGKILL), 0);

  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote, "hello, "));
  EXPECT_NE(zygote->zygote_pid(), old_zygote);
  EXPECT_EQ(zygote->stats().zygote_restarts, 1);

  // The old zygote's workers died with it (parent-death signal).
  std::string response;
  absl::Status status = old_worker->Invoke("world", &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), absl::StrCat("function 'hello': worker ", old_worker->pid(),
                                           " lost during invoke: "
                                           "zygote ",
                                           old_zygote, " killed by signal SIGKILL (Killed)"));
  EXPECT_EQ(old_worker->lost_reason(), "zygote");
}

TEST_F(IsolationTest, WorkersOutliveTheirZygoteObject) {
  std::unique_ptr<Zygote> zygote = StartZygote(Options("hello"));
  ASSERT_NE(zygote, nullptr);
  std::unique_ptr<Worker> worker = Spawn(*zygote);
  ASSERT_NE(worker, nullptr);
  pid_t zygote_pid = zygote->zygote_pid();
  zygote.reset();
  EXPECT_TRUE(ProcessExists(zygote_pid));
  std::string response;
  ASSERT_TRUE(worker->Invoke("world", &response).ok());
  EXPECT_EQ(response, "hello, world");
  worker.reset();
  EXPECT_FALSE(ProcessExists(zygote_pid));
}

TEST_F(IsolationTest, CircuitBreakerStopsACrashLoop) {
  FakeClock clock;
  ZygoteOptions options = Options("segfault");
  options.clock = &clock;
  options.crash_limit = 3;
  options.crash_window = absl::Seconds(60);
  options.crash_backoff = absl::Seconds(30);
  std::unique_ptr<Zygote> zygote = StartZygote(options);
  ASSERT_NE(zygote, nullptr);

  // Crashes spread wider than the window do not trip it.
  EXPECT_FALSE(Fault(*zygote, "crash").ok());
  EXPECT_FALSE(Fault(*zygote, "crash").ok());
  clock.Advance(absl::Seconds(61));
  EXPECT_FALSE(Fault(*zygote, "crash").ok());
  EXPECT_FALSE(Fault(*zygote, "crash").ok());
  clock.Advance(absl::Seconds(10));
  EXPECT_FALSE(Fault(*zygote, "crash").ok());  // the third within 60 s

  absl::StatusOr<std::unique_ptr<Worker>> refused = zygote->SpawnWorker();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message(),
            "function 'segfault' is crash-looping (3 worker crashes within 1m); no new workers "
            "for another 30s");
  clock.Advance(absl::Seconds(29));
  refused = zygote->SpawnWorker();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("for another 1s"));
  clock.Advance(absl::Seconds(1));
  ASSERT_NO_FATAL_FAILURE(ExpectServesAgain(*zygote));
  EXPECT_EQ(zygote->stats().worker_crashes, 5);
}

// The in-process loader's verdict on a module file, for comparison.
absl::Status InProcessLoad(const std::string& function, const std::string& path) {
  return LoadedModule::Load(function, path, LoadOptions(), *Clock::Real(), nullptr).status();
}

TEST_F(IsolationTest, BadModulesFailAsTheyDoInProcess) {
  for (const std::string& path :
       {std::string("/nonexistent/module.so"), TestModule("wrong_abi"), TestModule("no_entry")}) {
    SCOPED_TRACE(path);
    ZygoteOptions options = Options("hello");
    options.config.mutable_module()->set_module_path(path);
    absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
    absl::Status expected = InProcessLoad("hello", path);
    ASSERT_FALSE(expected.ok());
    EXPECT_EQ(zygote.status(), expected);
  }
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(Options("init_fails"));
  EXPECT_EQ(zygote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(zygote.status().message(),
            absl::StrCat("function 'init_fails': state init: init failed on purpose (module ",
                         TestModule("init_fails"), ")"));
}

TEST_F(IsolationTest, MissingZygoteExecutable) {
  ZygoteOptions options = Options("hello");
  options.zygote_executable = "/nonexistent/fnhost-zygote";
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  EXPECT_EQ(zygote.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(zygote.status().message()),
              HasSubstr("function 'hello': zygote: cannot start /nonexistent/fnhost-zygote"));
}

}  // namespace
}  // namespace fnhost
