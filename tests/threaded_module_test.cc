// Modules whose libraries or own code start threads, loaded, called and unloaded 100 times in
// one process through every way a Host unloads (Unregister, Reload, scale to zero): the host
// never crashes, every answer is right, and every load is a fresh copy of the module.
//   openmp_sum   the OpenMP runtime's worker threads outlive every state; the module itself can
//                go, its dependency (pinned RTLD_NODELETE) stays.
//   own_pool     a pool of the module's own threads: joined by the state ("join"), the module
//                unloads; left waiting or spinning, the module stays loaded and the failed
//                unload says why.

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/loader/elf_info.h"
#include "src/loader/module_loader.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using testing::TestModule;

constexpr int kCycles = 100;
constexpr char kSumOfSquaresBelow1000[] = "sum=332833500";

// Counts unloads and keeps the reason of every failed one.
class UnloadRecorder : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent&) override {}
  void OnInvocation(const InvocationEvent&) override {}
  void OnPoolEvent(const PoolEvent& event) override {
    if (event.kind == PoolEventKind::kUnload) ++unloads;
    if (event.kind == PoolEventKind::kUnloadFailed) failures.emplace_back(event.reason);
  }
  int unloads = 0;
  std::vector<std::string> failures;
};

class ThreadedModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Host>> host =
        HostForTesting::Create(testing::ManualHostOptions(&clock_, &recorder_));
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *std::move(host);
  }

  FunctionSpec Spec(const std::string& module, const std::string& init_config = "") const {
    FunctionSpec spec;
    spec.name = "threads";
    spec.module_path = TestModule(module);
    spec.init_config = init_config;
    spec.pool.keep_alive.idle_timeout = absl::Minutes(1);
    return spec;
  }

  // Calls the function and checks the answer of a fresh copy (its first call).
  void ExpectFreshAnswer(int cycle) {
    absl::StatusOr<std::string> reply = host_->Invoke("threads", "1000");
    ASSERT_TRUE(reply.ok()) << "cycle " << cycle << ": " << reply.status();
    EXPECT_THAT(*reply, HasSubstr(kSumOfSquaresBelow1000)) << "cycle " << cycle;
    EXPECT_THAT(*reply, HasSubstr("calls=1")) << "cycle " << cycle << ": not a fresh copy";
  }

  // Loads, calls and unloads the module kCycles times, unloading in turn by Unregister,
  // Reload and scale to zero.
  void Cycle(const FunctionSpec& spec) {
    ASSERT_TRUE(host_->Register(spec).ok());
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      ASSERT_NO_FATAL_FAILURE(ExpectFreshAnswer(cycle));
      switch (cycle % 3) {
        case 0:
          ASSERT_TRUE(host_->Unregister(spec.name).ok());
          ASSERT_TRUE(host_->Register(spec).ok());
          break;
        case 1:
          ASSERT_TRUE(host_->Reload(spec.name, spec.module_path).ok());
          break;
        case 2:
          clock_.Advance(spec.pool.keep_alive.idle_timeout + absl::Seconds(1));
          HostForTesting::RunMaintenance(*host_);
          break;
      }
    }
    ASSERT_TRUE(host_->Unregister(spec.name).ok());
  }

  FakeClock clock_;
  UnloadRecorder recorder_;
  std::unique_ptr<Host> host_;
};

TEST_F(ThreadedModuleTest, OpenMpModuleUnloadsWhileItsRuntimeKeepsItsThreads) {
  const std::string module = TestModule("openmp_sum");
  if (!std::filesystem::exists(module)) GTEST_SKIP() << "built without OpenMP";
  ASSERT_NO_FATAL_FAILURE(Cycle(Spec("openmp_sum")));
  // The check of the runtime's threads is conservative: a stale return address into the
  // module, left in a live slot of a worker's stack, keeps that copy loaded (LLVM's libomp
  // does that now and then; libgomp has not been seen to). Never a crash.
  EXPECT_EQ(recorder_.unloads + static_cast<int>(recorder_.failures.size()), kCycles);
  EXPECT_GE(recorder_.unloads, kCycles * 9 / 10);
  EXPECT_THAT(recorder_.failures, Each(HasSubstr("has the module's code on its stack")));
  // The runtime (libgomp, or LLVM's libomp) stays, with its threads: it was pinned when the
  // first copy loaded it.
  absl::StatusOr<ElfInfo> elf = ReadElfInfo(module);
  ASSERT_TRUE(elf.ok()) << elf.status();
  const auto runtime =
      std::find_if(elf->needed.begin(), elf->needed.end(),
                   [](const std::string& name) { return name.find("omp") != std::string::npos; });
  ASSERT_NE(runtime, elf->needed.end());
  void* handle = ::dlopen(runtime->c_str(), RTLD_NOLOAD | RTLD_LAZY);
  EXPECT_NE(handle, nullptr) << *runtime << " was unloaded";
  if (handle != nullptr) ::dlclose(handle);
}

TEST_F(ThreadedModuleTest, ModuleThatJoinsItsPoolUnloads) {
  ASSERT_NO_FATAL_FAILURE(Cycle(Spec("own_pool", "join")));
  EXPECT_EQ(recorder_.unloads, kCycles);
  EXPECT_THAT(recorder_.failures, ::testing::IsEmpty());
  EXPECT_FALSE(IsLoaded(TestModule("own_pool")));
}

TEST_F(ThreadedModuleTest, ModuleThatLeavesItsPoolRunningStaysLoaded) {
  ASSERT_NO_FATAL_FAILURE(Cycle(Spec("own_pool")));
  EXPECT_EQ(recorder_.unloads, 0);
  ASSERT_EQ(recorder_.failures.size(), static_cast<size_t>(kCycles));
  EXPECT_THAT(recorder_.failures, Each(HasSubstr("left 2 thread(s) that may still run its code")));
  EXPECT_THAT(recorder_.failures, Each(HasSubstr("has the module's code on its stack")));
  EXPECT_THAT(recorder_.failures, Each(HasSubstr(TestModule("own_pool"))));
  EXPECT_TRUE(IsLoaded(TestModule("own_pool")));
}

// A thread started after the module that never blocks cannot be inspected: after watching it for
// a while, the host keeps the module rather than guess.
TEST_F(ThreadedModuleTest, ModuleWhoseThreadKeepsRunningStaysLoaded) {
  const FunctionSpec spec = Spec("own_pool", "spin");
  ASSERT_TRUE(host_->Register(spec).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectFreshAnswer(0));
  ASSERT_TRUE(host_->Unregister(spec.name).ok());
  EXPECT_EQ(recorder_.unloads, 0);
  ASSERT_EQ(recorder_.failures.size(), 1u);
  EXPECT_THAT(recorder_.failures[0], HasSubstr("left 3 thread(s) that may still run its code"));
  EXPECT_THAT(recorder_.failures[0],
              HasSubstr("started after the module and kept running, so it could not be "
                        "inspected"));
}

}  // namespace
}  // namespace fnhost
