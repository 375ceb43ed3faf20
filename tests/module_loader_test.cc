// The loader as a user meets it through the Host: every cut of a real module loads and answers
// or fails naming the file, never crashing; a module file truncated or rewritten in place
// after loading changes nothing for the running version; two loads of one path are two
// independent copies; the SHA-256 is of the bytes loaded; $ORIGIN still means the module
// file's directory; nothing is written to $TMPDIR.

#include "src/loader/module_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/sha256.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;
using testing::TestModule;

constexpr int kCutStride = 256;

std::unique_ptr<Host> NewHost(FakeClock* clock) {
  absl::StatusOr<std::unique_ptr<Host>> host =
      HostForTesting::Create(testing::ManualHostOptions(clock, nullptr));
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? *std::move(host) : nullptr;
}

FunctionSpec Spec(const std::string& name, const std::string& path) {
  FunctionSpec spec;
  spec.name = name;
  spec.module_path = path;
  return spec;
}

// Every cut at every 256 bytes, from the whole file down to nothing: the module either loads
// and answers as the whole one does, or the call fails with a status that names the file.
// Truncating one file in place keeps the test cheap (no copy per cut).
TEST(ModuleLoaderTest, EveryCutOfARealModuleLoadsOrFailsNamingTheFile) {
  TempDir dir;
  const std::string path = dir.Copy(TestModule("hello"), "cut.so");
  const off_t size = static_cast<off_t>(std::filesystem::file_size(path));
  FakeClock clock;
  std::unique_ptr<Host> host = NewHost(&clock);
  ASSERT_NE(host, nullptr);
  std::vector<off_t> cuts = {size};
  for (off_t cut = (size - 1) / kCutStride * kCutStride; cut >= 0; cut -= kCutStride) {
    cuts.push_back(cut);
  }
  int loaded = 0;
  int refused = 0;
  for (off_t cut : cuts) {  // longest first: each cut shortens the same file
    ASSERT_EQ(::truncate(path.c_str(), cut), 0);
    ASSERT_TRUE(host->Register(Spec("cut", path)).ok());
    absl::StatusOr<std::string> reply = host->Invoke("cut", "x");
    if (reply.ok()) {
      EXPECT_EQ(*reply, "hello, x") << "cut at " << cut;
      ++loaded;
    } else {
      EXPECT_THAT(std::string(reply.status().message()), HasSubstr(path)) << "cut at " << cut;
      ++refused;
    }
    ASSERT_TRUE(host->Unregister("cut").ok());
  }
  EXPECT_GE(loaded, 1);  // the whole file
  EXPECT_EQ(loaded + refused, static_cast<int>(cuts.size()));
}

// `cp short.so module.so` truncates the file that the host has mapped; with the file itself
// mapped, the next call into it would fault (SIGBUS). The host runs from its sealed copy.
TEST(ModuleLoaderTest, ModuleTruncatedOrRewrittenInPlaceKeepsServing) {
  TempDir dir;
  const std::string path = dir.Copy(TestModule("hello"), "m.so");
  const std::string original = testing::ReadFileBytes(path);
  FakeClock clock;
  std::unique_ptr<Host> host = NewHost(&clock);
  ASSERT_NE(host, nullptr);
  FunctionSpec spec = Spec("m", path);
  spec.pool.max_instances = 4;
  ASSERT_TRUE(host->Register(spec).ok());
  ASSERT_EQ(*host->Invoke("m", "before"), "hello, before");

  ASSERT_EQ(::truncate(path.c_str(), 1000), 0);
  EXPECT_EQ(*host->Invoke("m", "truncated"), "hello, truncated");
  // New instances run the module's code too.
  ASSERT_TRUE(host->PrewarmAndWait("m", 4).ok());
  EXPECT_EQ(*host->Invoke("m", "prewarmed"), "hello, prewarmed");

  std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(original.size(), 'x');
  EXPECT_EQ(*host->Invoke("m", "rewritten"), "hello, rewritten");
  absl::Status reload = host->Reload("m", path);
  EXPECT_FALSE(reload.ok());
  EXPECT_THAT(std::string(reload.message()), HasSubstr(path));
  EXPECT_EQ(*host->Invoke("m", "after a failed reload"), "hello, after a failed reload");
}

// Each load is a new object with its own globals, even of one path loaded twice at once.
TEST(ModuleLoaderTest, TwoLoadsOfOnePathAreIndependentCopies) {
  FakeClock clock;
  std::unique_ptr<Host> host = NewHost(&clock);
  ASSERT_NE(host, nullptr);
  ASSERT_TRUE(host->Register(Spec("a", TestModule("counting"))).ok());
  ASSERT_TRUE(host->Register(Spec("b", TestModule("counting"))).ok());
  EXPECT_THAT(*host->Invoke("a", ""), StartsWith("inits=1 instances=1"));
  EXPECT_THAT(*host->Invoke("b", ""), StartsWith("inits=1 instances=1"));
  EXPECT_TRUE(IsLoaded(TestModule("counting")));
  ASSERT_TRUE(host->Unregister("a").ok());
  EXPECT_TRUE(IsLoaded(TestModule("counting")));  // b's copy
  ASSERT_TRUE(host->Unregister("b").ok());
  EXPECT_FALSE(IsLoaded(TestModule("counting")));
}

absl::StatusOr<std::unique_ptr<LoadedModule>> Load(const std::string& path,
                                                   const LoadOptions& options = {}) {
  return LoadedModule::Load("f", path, options, *Clock::Real(), nullptr);
}

// The copy holds only what the dynamic loader maps, but the SHA-256 is of the whole file as it
// was loaded; once the file changes, the rest of it is no longer known.
TEST(ModuleLoaderTest, Sha256IsOfTheWholeFileAsLoaded) {
  TempDir dir;
  const std::string path = dir.Copy(TestModule("hello"), "m.so");
  const std::string expected = *Sha256HexOfFile(path);
  absl::StatusOr<std::unique_ptr<LoadedModule>> module = Load(path);
  ASSERT_TRUE(module.ok()) << module.status();
  ASSERT_TRUE((*module)->sha256().ok()) << (*module)->sha256().status();
  EXPECT_EQ(*(*module)->sha256(), expected);

  absl::StatusOr<std::unique_ptr<LoadedModule>> changed = Load(path);
  ASSERT_TRUE(changed.ok()) << changed.status();
  std::ofstream(path, std::ios::binary | std::ios::app) << "appended";
  EXPECT_EQ((*changed)->sha256().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string((*changed)->sha256().status().message()), HasSubstr(path));
  EXPECT_EQ(*(*module)->sha256(), expected);  // computed before the change

  LoadOptions pinned;
  pinned.sha256 = expected;
  absl::StatusOr<std::unique_ptr<LoadedModule>> refused = Load(path, pinned);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("but the spec pins " + expected));
}

// A module finds a library bundled next to it through RUNPATH $ORIGIN, from any directory.
TEST(ModuleLoaderTest, OriginMeansTheModuleFilesDirectory) {
  TempDir dir;
  const std::string path = dir.Copy(TestModule("origin_user"), "origin_user.so");
  dir.Copy(std::string(FNHOST_TEST_MODULE_DIR) + "/liborigin_dep.so", "liborigin_dep.so");
  FakeClock clock;
  std::unique_ptr<Host> host = NewHost(&clock);
  ASSERT_NE(host, nullptr);
  ASSERT_TRUE(host->Register(Spec("origin", path)).ok());
  absl::StatusOr<std::string> reply = host->Invoke("origin", "");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "value=42");
}

// Reloads and canaries used to write private copies under $TMPDIR; now nothing is written.
TEST(ModuleLoaderTest, NothingIsWrittenToTmpdir) {
  TempDir tmp;
  const char* saved = std::getenv("TMPDIR");
  const std::string previous = saved != nullptr ? saved : "";
  ASSERT_EQ(::setenv("TMPDIR", tmp.path().c_str(), 1), 0);
  {
    FakeClock clock;
    std::unique_ptr<Host> host = NewHost(&clock);
    ASSERT_NE(host, nullptr);
    ASSERT_TRUE(host->Register(Spec("gate", TestModule("gate"))).ok());
    ASSERT_TRUE(host->Invoke("gate", "x").ok());
    ASSERT_TRUE(host->Reload("gate", TestModule("gate")).ok());
    ASSERT_TRUE(host->SetCanary("gate", TestModule("canary"), 0.5).ok());
    ASSERT_TRUE(host->Invoke("gate", "x").ok());
    ASSERT_TRUE(host->Invoke("gate", "x").ok());
    EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  if (saved != nullptr) ::setenv("TMPDIR", previous.c_str(), 1);
  else ::unsetenv("TMPDIR");
}

}  // namespace
}  // namespace fnhost
