// The Host's contract: lazy loading, the handle fast path, bad module files, names, Unregister.
#include "fnhost/host.h"
#include "fnhost/testing.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/sha256.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

// Records every event, so tests can see what the host did.
class RecordingSink : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    cold_starts.push_back({std::string(event.function), event.state_source, event.outcome});
  }
  void OnInvocation(const InvocationEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    invocations.push_back({std::string(event.function), event.cold, event.outcome});
  }
  void OnPoolEvent(const PoolEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    pool_events.push_back({event.kind, std::string(event.reason)});
  }
  struct ColdStart {
    std::string function;
    StateSource source;
    absl::StatusCode outcome;
  };
  struct Invocation {
    std::string function;
    bool cold;
    absl::StatusCode outcome;
  };
  struct Pool {
    PoolEventKind kind;
    std::string reason;
  };
  std::vector<ColdStart> cold_starts;
  std::vector<Invocation> invocations;
  std::vector<Pool> pool_events;
  int Count(PoolEventKind kind) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Pool& event : pool_events) n += event.kind == kind;
    return n;
  }

 private:
  std::mutex mu_;
};

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostOptions options = testing::ManualHostOptions(&clock_, &sink_);
    absl::StatusOr<std::unique_ptr<Host>> host = HostForTesting::Create(options);
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *std::move(host);
  }

  FunctionSpec Spec(const std::string& name, const std::string& path) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = path;
    return spec;
  }

  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<Host> host_;
  TempDir dir_;
};

TEST_F(HostTest, RegisterLoadsNothingAndTheFirstCallDoes) {
  ASSERT_TRUE(host_->Register(Spec("hello", TestModule("hello"))).ok());
  EXPECT_TRUE(sink_.cold_starts.empty());
  std::vector<FunctionStatus> before = host_->ListFunctions();
  ASSERT_EQ(before.size(), 1u);
  EXPECT_FALSE(before[0].loaded);

  absl::StatusOr<std::string> reply = host_->Invoke("hello", "world");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "hello, world");
  ASSERT_EQ(sink_.cold_starts.size(), 1u);
  EXPECT_EQ(sink_.cold_starts[0].source, StateSource::kInit);
  ASSERT_EQ(sink_.invocations.size(), 1u);
  EXPECT_TRUE(sink_.invocations[0].cold);

  reply = host_->Invoke("hello", "again");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(*reply, "hello, again");
  EXPECT_EQ(sink_.cold_starts.size(), 1u);
  EXPECT_FALSE(sink_.invocations[1].cold);
  std::vector<FunctionStatus> after = host_->ListFunctions();
  EXPECT_TRUE(after[0].loaded);
  EXPECT_EQ(after[0].module_version, "1.0.0");
  EXPECT_EQ(after[0].idle_instances, 1);
}

TEST_F(HostTest, InitConfigReachesTheState) {
  FunctionSpec spec = Spec("hi", TestModule("hello"));
  spec.init_config = "bonjour";
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_THAT(host_->Invoke("hi", "monde"), IsOkAndHolds("bonjour, monde"));
}

TEST_F(HostTest, HandleFastPathReusesTheResponseBuffer) {
  ASSERT_TRUE(host_->Register(Spec("hello", TestModule("hello"))).ok());
  absl::StatusOr<FunctionHandle> handle = host_->Lookup("hello");
  ASSERT_TRUE(handle.ok());
  EXPECT_EQ(handle->name(), "hello");
  std::string response;
  ASSERT_TRUE(host_->Invoke(*handle, "a", &response).ok());
  EXPECT_EQ(response, "hello, a");
  ASSERT_TRUE(host_->Invoke(*handle, "bb", &response).ok());
  EXPECT_EQ(response, "hello, bb");
  EXPECT_FALSE(host_->Invoke(FunctionHandle(), "x", &response).ok());
}

TEST_F(HostTest, UnknownAndDuplicateNames) {
  absl::StatusOr<std::string> reply = host_->Invoke("nope", "x");
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reply.status().message(), HasSubstr("nope"));
  ASSERT_TRUE(host_->Register(Spec("hello", TestModule("hello"))).ok());
  absl::Status again = host_->Register(Spec("hello", TestModule("gate")));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("hello"));
  EXPECT_THAT(host_->Invoke("hello", "still"), IsOkAndHolds("hello, still"));
}

TEST_F(HostTest, InvalidSpecsAreRefused) {
  EXPECT_EQ(host_->Register(Spec("", TestModule("hello"))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_->Register(Spec("bad name!", TestModule("hello"))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_->Register(Spec("f", "")).code(), absl::StatusCode::kInvalidArgument);
  FunctionSpec spec = Spec("f", TestModule("hello"));
  spec.pool.min_instances = 3;
  spec.pool.max_instances = 2;
  EXPECT_EQ(host_->Register(spec).code(), absl::StatusCode::kInvalidArgument);
  spec = Spec("f", TestModule("hello"));
  spec.sha256 = "xyz";
  EXPECT_EQ(host_->Register(spec).code(), absl::StatusCode::kInvalidArgument);
  spec = Spec("f", TestModule("hello"));
  spec.pool.keep_alive.kind = KeepAliveOptions::Kind::kHybrid;
  spec.pool.keep_alive.instance_memory_mb = 0;
  const absl::Status status = host_->Register(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "function 'f': keep_alive.instance_memory_mb 0 is not a positive number");
  // None of the refused specs was registered: the name is still free.
  EXPECT_TRUE(host_->Register(Spec("f", TestModule("hello"))).ok());
}

// Each bad module file: a clear error naming the function and file, and the host serves on.
class BadModuleFileTest : public HostTest {
 protected:
  void ExpectLoadError(const std::string& path, absl::StatusCode code,
                       const std::string& cause, const FunctionSpec* custom = nullptr) {
    FunctionSpec spec = custom != nullptr ? *custom : Spec("bad", path);
    ASSERT_TRUE(host_->Register(spec).ok());
    ASSERT_TRUE(host_->Register(Spec("good", TestModule("hello"))).ok());
    absl::StatusOr<std::string> reply = host_->Invoke("bad", "x");
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), code) << reply.status();
    EXPECT_THAT(reply.status().message(), HasSubstr("'bad'"));
    EXPECT_THAT(reply.status().message(), HasSubstr(path));
    EXPECT_THAT(reply.status().message(), HasSubstr(cause));
    // Failing again is the same clear error, and other functions are unaffected.
    EXPECT_EQ(host_->Invoke("bad", "x").status().code(), code);
    EXPECT_THAT(host_->Invoke("good", "x"), IsOkAndHolds("hello, x"));
  }
};

TEST_F(BadModuleFileTest, MissingFile) {
  ASSERT_NO_FATAL_FAILURE(
      ExpectLoadError(dir_.File("missing.so"), absl::StatusCode::kNotFound, "No such file"));
}

TEST_F(BadModuleFileTest, Directory) {
  ASSERT_NO_FATAL_FAILURE(
      ExpectLoadError(dir_.path(), absl::StatusCode::kFailedPrecondition, "is a directory"));
}

TEST_F(BadModuleFileTest, NotAnElfFile) {
  ASSERT_NO_FATAL_FAILURE(ExpectLoadError(dir_.Write("text.so", "this is not a shared object\n"),
                                          absl::StatusCode::kInvalidArgument,
                                          "not an ELF file (bad magic)"));
}

TEST_F(BadModuleFileTest, TruncatedModule) {
  std::string bytes = testing::ReadFileBytes(TestModule("hello"));
  ASSERT_GT(bytes.size(), 200u);
  ASSERT_NO_FATAL_FAILURE(ExpectLoadError(dir_.Write("truncated.so", bytes.substr(0, 200)),
                                          absl::StatusCode::kInvalidArgument, "truncated ELF"));
}

TEST_F(BadModuleFileTest, ElfForAnotherArchitecture) {
  std::string bytes = testing::ReadFileBytes(TestModule("hello"));
  ASSERT_GT(bytes.size(), 64u);
  constexpr uint16_t kAarch64 = 183;  // e_machine, at offset 18 of the ELF header
  bytes[18] = static_cast<char>(kAarch64 & 0xff);
  bytes[19] = static_cast<char>(kAarch64 >> 8);
  ASSERT_NO_FATAL_FAILURE(ExpectLoadError(dir_.Write("arm.so", bytes),
                                          absl::StatusCode::kFailedPrecondition,
                                          "ELF for machine aarch64"));
}

TEST_F(BadModuleFileTest, PlainExecutable) {
  ASSERT_NO_FATAL_FAILURE(ExpectLoadError(
      dir_.Copy("/bin/true", "true"), absl::StatusCode::kFailedPrecondition, "cannot load module"));
}

TEST_F(BadModuleFileTest, GroupWritable) {
  ASSERT_NO_FATAL_FAILURE(ExpectLoadError(dir_.Copy(TestModule("hello"), "writable.so", 0775),
                                          absl::StatusCode::kPermissionDenied,
                                          "writable by its group"));
}

TEST_F(BadModuleFileTest, Sha256PinMismatch) {
  FunctionSpec spec = Spec("bad", TestModule("hello"));
  spec.sha256 = std::string(64, '0');
  ASSERT_NO_FATAL_FAILURE(
      ExpectLoadError(spec.module_path, absl::StatusCode::kPermissionDenied, "pins", &spec));
}

TEST_F(HostTest, WritableModuleAllowedWhenTheOptionSaysSo) {
  HostOptions options;
  options.allow_writable_modules = true;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  ASSERT_TRUE(host->Register(Spec("w", dir_.Copy(TestModule("hello"), "w.so", 0777))).ok());
  EXPECT_THAT(host->Invoke("w", "x"), IsOkAndHolds("hello, x"));
}

TEST_F(HostTest, Sha256PinMatch) {
  FunctionSpec spec = Spec("pinned", TestModule("hello"));
  absl::StatusOr<std::string> sha256 = Sha256HexOfFile(TestModule("hello"));
  ASSERT_TRUE(sha256.ok()) << sha256.status();
  spec.sha256 = *sha256;
  ASSERT_TRUE(host_->Register(spec).ok());
  EXPECT_THAT(host_->Invoke("pinned", "x"), IsOkAndHolds("hello, x"));
}

// An embedder's relative module paths are made absolute against the current directory when
// Register, Reload and SetCanary run: dlopen never searches the library path for a bare name,
// and a later chdir changes nothing.
TEST_F(HostTest, RelativeModulePathsResolveAgainstTheCurrentDirectoryOfTheCall) {
  const std::string modules = FNHOST_TEST_MODULE_DIR;
  const std::string cwd = std::filesystem::current_path().string();
  absl::Cleanup restore_cwd = [&] { ASSERT_EQ(::chdir(cwd.c_str()), 0); };
  ASSERT_EQ(::chdir(modules.c_str()), 0);
  ASSERT_TRUE(host_->Register(Spec("hello", "hello.so")).ok());
  ASSERT_EQ(::chdir(dir_.path().c_str()), 0);
  EXPECT_THAT(host_->Invoke("hello", "x"), IsOkAndHolds("hello, x"));
  EXPECT_EQ(host_->ListFunctions()[0].module_path, modules + "/hello.so");

  ASSERT_EQ(::chdir(modules.c_str()), 0);
  ASSERT_TRUE(host_->Reload("hello", "./hello.so").ok());
  ASSERT_TRUE(host_->SetCanary("hello", "canary.so", 1).ok());
  ASSERT_EQ(::chdir(dir_.path().c_str()), 0);
  EXPECT_THAT(host_->Invoke("hello", "x"), IsOkAndHolds("canary done"));
  std::vector<FunctionStatus> functions = host_->ListFunctions();
  EXPECT_EQ(functions[0].module_path, modules + "/hello.so");
  ASSERT_TRUE(functions[0].canary.has_value());
  EXPECT_EQ(functions[0].canary->module_path, modules + "/canary.so");
}

TEST_F(HostTest, UnregisterRefusesNewCalls) {
  ASSERT_TRUE(host_->Register(Spec("hello", TestModule("hello"))).ok());
  absl::StatusOr<FunctionHandle> handle = host_->Lookup("hello");
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(host_->Invoke("hello", "x").ok());
  ASSERT_TRUE(host_->Unregister("hello").ok());
  EXPECT_EQ(host_->Invoke("hello", "x").status().code(), absl::StatusCode::kNotFound);
  std::string response;
  EXPECT_EQ(host_->Invoke(*handle, "x", &response).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_->Unregister("hello").code(), absl::StatusCode::kNotFound);
  // The name is free again.
  ASSERT_TRUE(host_->Register(Spec("hello", TestModule("hello"))).ok());
  EXPECT_THAT(host_->Invoke("hello", "y"), IsOkAndHolds("hello, y"));
}

}  // namespace
}  // namespace fnhost

namespace fnhost {
namespace {

// The built-in aggregator hands the host a per-function recorder; calls must land in it.
TEST(HostMetricsTest, InvocationsReachTheAggregator) {
  MetricsAggregator metrics;
  HostOptions options;
  options.metrics_sink = &metrics;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
  FunctionSpec spec;
  spec.name = "hello";
  spec.module_path = testing::TestModule("hello");
  ASSERT_TRUE(host->Register(spec).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(host->Invoke("hello", "x").ok());
  MetricsAggregator::FunctionTotals totals = metrics.Totals("hello");
  EXPECT_EQ(totals.invocations, 5);
  EXPECT_EQ(totals.cold_invocations, 1);
  EXPECT_EQ(totals.coldstarts, 1);
  EXPECT_EQ(totals.errors, 0);
}

}  // namespace
}  // namespace fnhost
