// The host's use of snapshots: restore instead of init when the identity matches, write one
// after an init, and fall back to init — with a reported reason — for every bad snapshot.
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::ReadFileBytes;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class SnapshotEvents : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override { sources.push_back(event.state_source); }
  void OnInvocation(const InvocationEvent&) override {}
  void OnSnapshotEvent(const SnapshotEvent& event) override {
    events.push_back({event.kind, std::string(event.path), std::string(event.detail)});
  }
  struct Event {
    SnapshotEventKind kind;
    std::string path;
    std::string detail;
  };
  std::vector<StateSource> sources;
  std::vector<Event> events;
};

class SnapshotHostTest : public ::testing::Test {
 protected:
  // Runs one host over the snapshot directory: registers the module, calls it once, shuts
  // down (which finishes the background snapshot write); returns the reply.
  std::string RunOnce(const std::string& init_config = "500",
                      const std::string& module = "snapshot_counter") {
    events_ = SnapshotEvents();
    HostOptions options;
    options.snapshot_dir = snapshots_.path();
    options.metrics_sink = &events_;
    options.clock = clock_;
    absl::StatusOr<std::unique_ptr<Host>> created = HostForTesting::Create(options);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return "";
    std::unique_ptr<Host> host = *std::move(created);
    FunctionSpec spec;
    spec.name = "table";
    spec.module_path = module_path_.empty() ? TestModule(module) : module_path_;
    spec.init_config = init_config;
    EXPECT_TRUE(host->Register(spec).ok());
    absl::StatusOr<std::string> reply = host->Invoke("table", "x");
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : "";
  }
  // The snapshot directory's files whose names start with `prefix`.
  std::vector<std::string> FilesStartingWith(const std::string& prefix) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(snapshots_.path())) {
      if (entry.path().filename().string().starts_with(prefix)) {
        files.push_back(entry.path().string());
      }
    }
    return files;
  }
  std::string OnlySnapshotFile() {
    std::vector<std::string> files = FilesStartingWith("table.");
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? "" : files[0];
  }
  const SnapshotEvents::Event* Find(SnapshotEventKind kind) {
    for (const auto& event : events_.events) {
      if (event.kind == kind) return &event;
    }
    return nullptr;
  }

  TempDir snapshots_;
  SnapshotEvents events_;
  std::string module_path_;
  Clock* clock_ = nullptr;  // the real one
};

TEST_F(SnapshotHostTest, InitWritesASnapshotThatTheNextHostRestores) {
  const std::string first = RunOnce();
  EXPECT_THAT(first, StartsWith("origin=init"));
  ASSERT_NE(Find(SnapshotEventKind::kWritten), nullptr);
  const std::string second = RunOnce();
  EXPECT_THAT(second, StartsWith("origin=restore after_restore=1"));
  EXPECT_EQ(events_.sources, std::vector<StateSource>{StateSource::kRestore});
  ASSERT_NE(Find(SnapshotEventKind::kRestored), nullptr);
  // Same table either way.
  EXPECT_EQ(first.substr(first.find("entries=")), second.substr(second.find("entries=")));
}

TEST_F(SnapshotHostTest, AnotherInitConfigDoesNotUseTheSnapshot) {
  RunOnce("500");
  EXPECT_THAT(RunOnce("600"), StartsWith("origin=init"));
  EXPECT_THAT(RunOnce("500"), StartsWith("origin=restore"));
}

TEST_F(SnapshotHostTest, CorruptSnapshotsAreReportedAndInitRuns) {
  RunOnce();
  const std::string path = OnlySnapshotFile();
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  struct Damage {
    const char* what;
    std::string contents;
  };
  std::string flipped_header = bytes;
  flipped_header[40] ^= 0x5a;
  std::vector<Damage> damages = {
      {"truncated", bytes.substr(0, bytes.size() / 2)},
      {"header byte flipped", flipped_header},
      {"garbage", std::string(8192, 'g')},
      {"empty", ""},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.what);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << damage.contents;
    EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
    const SnapshotEvents::Event* rejected = Find(SnapshotEventKind::kRejected);
    ASSERT_NE(rejected, nullptr);
    EXPECT_EQ(rejected->path, path);
    EXPECT_FALSE(rejected->detail.empty());
    // The init rewrote a good snapshot.
    EXPECT_THAT(RunOnce(), StartsWith("origin=restore"));
  }
}

TEST_F(SnapshotHostTest, AnotherBuildOfTheModuleDoesNotUseTheSnapshot) {
  TempDir modules;
  module_path_ = modules.Copy(TestModule("snapshot_counter"), "m.so");
  RunOnce();
  // Same module name and version, other bytes: a different build.
  std::ofstream(module_path_, std::ios::binary | std::ios::app) << "trailing bytes";
  EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
}

// The module's SHA-256 is remembered in the (private) snapshot directory, so that the next
// cold start does not hash the module again; a clock an hour ahead makes the module file old
// enough to be remembered.
TEST_F(SnapshotHostTest, ModuleHashIsRememberedAndAChangedModuleIsHashedAgain) {
  TempDir modules;
  module_path_ = modules.Copy(TestModule("snapshot_counter"), "m.so");
  FakeClock later(absl::Now() + absl::Hours(1));
  clock_ = &later;
  EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
  std::vector<std::string> entries = FilesStartingWith("module-digest.");
  ASSERT_EQ(entries.size(), 1u);
  const std::string entry = ReadFileBytes(entries[0]);
  EXPECT_THAT(RunOnce(), StartsWith("origin=restore"));

  // The entry is what the host uses: another hash in it names another snapshot file.
  std::string forged = entry;
  size_t sha256 = 0;  // the seventh field: magic, device, inode, size, mtime, ctime, SHA-256
  for (int field = 0; field < 6; ++field) sha256 = forged.find(' ', sha256) + 1;
  forged[sha256] = forged[sha256] == '0' ? '1' : '0';
  std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << forged;
  EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
  std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << entry;
  EXPECT_THAT(RunOnce(), StartsWith("origin=restore"));

  // Another build in place, even of the same size and modification time: only the change time
  // tells, and the module is hashed again.
  std::ofstream(module_path_, std::ios::binary | std::ios::app) << "trailing bytes";
  EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
  EXPECT_THAT(RunOnce(), StartsWith("origin=restore"));
  struct stat before;
  ASSERT_EQ(::stat(module_path_.c_str(), &before), 0);
  {
    std::fstream file(module_path_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-5, std::ios::end);
    file << "BYTES";
  }
  // Setting the times back is itself a change: it moves the change time on, once the kernel's
  // coarse clock has ticked since the append (a few ms at most).
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  struct stat after;
  for (int attempt = 0; attempt < 1000000; ++attempt) {
    ASSERT_EQ(::utimensat(AT_FDCWD, module_path_.c_str(), times, 0), 0);
    ASSERT_EQ(::stat(module_path_.c_str(), &after), 0);
    if (after.st_ctim.tv_sec != before.st_ctim.tv_sec ||
        after.st_ctim.tv_nsec != before.st_ctim.tv_nsec) {
      break;
    }
  }
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  ASSERT_FALSE(after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
               after.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
  EXPECT_THAT(RunOnce(), StartsWith("origin=init"));
}

TEST_F(SnapshotHostTest, ModuleHashIsNotRememberedWhenItCouldBeRacyOrUntrusted) {
  TempDir modules;
  module_path_ = modules.Copy(TestModule("snapshot_counter"), "m.so");
  // The module changed less than kModuleHashRacyWindow ago (the clock is behind it): a change
  // within the same timestamp granule could go unseen, so nothing is remembered.
  FakeClock earlier(absl::Now() - absl::Hours(1));
  clock_ = &earlier;
  RunOnce();
  EXPECT_THAT(FilesStartingWith("module-digest."), ::testing::IsEmpty());

  // A snapshot directory that others may write is not trusted with hashes either.
  FakeClock later(absl::Now() + absl::Hours(1));
  clock_ = &later;
  ASSERT_EQ(::chmod(snapshots_.path().c_str(), 0775), 0);
  EXPECT_THAT(RunOnce(), StartsWith("origin=restore"));
  EXPECT_THAT(FilesStartingWith("module-digest."), ::testing::IsEmpty());
}

TEST_F(SnapshotHostTest, UnwritableSnapshotDirectoryIsReportedAndServingGoesOn) {
  TempDir base;
  std::string file = base.Write("not-a-directory", "x");
  events_ = SnapshotEvents();
  HostOptions options;
  options.snapshot_dir = file + "/snapshots";  // cannot be created: a file is in the way
  options.metrics_sink = &events_;
  {
    std::unique_ptr<Host> host;
    ASSERT_TRUE(testing::TakeHost(HostForTesting::Create(options), &host));
    FunctionSpec spec;
    spec.name = "table";
    spec.module_path = TestModule("snapshot_counter");
    ASSERT_TRUE(host->Register(spec).ok());
    EXPECT_THAT(host->Invoke("table", "x"), IsOkAndHolds(StartsWith("origin=init")));
  }
  const SnapshotEvents::Event* failed = Find(SnapshotEventKind::kWriteFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_THAT(failed->detail, HasSubstr("not-a-directory"));
}

}  // namespace
}  // namespace fnhost
