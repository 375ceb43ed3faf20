// The host's use of snapshots: restore instead of init when the identity matches, write one
// after an init, and fall back to init — with a reported reason — for every bad snapshot.
#include <fstream>
#include <string>
#include <vector>

#include "fnhost/host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

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
    options.start_maintenance_thread = false;
    std::unique_ptr<Host> host = *Host::Create(options);
    FunctionSpec spec;
    spec.name = "table";
    spec.module_path = module_path_.empty() ? TestModule(module) : module_path_;
    spec.init_config = init_config;
    EXPECT_TRUE(host->Register(spec).ok());
    absl::StatusOr<std::string> reply = host->Invoke("table", "x");
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : "";
  }
  std::string OnlySnapshotFile() {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(snapshots_.path())) {
      files.push_back(entry.path().string());
    }
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

TEST_F(SnapshotHostTest, UnwritableSnapshotDirectoryIsReportedAndServingGoesOn) {
  TempDir base;
  std::string file = base.Write("not-a-directory", "x");
  events_ = SnapshotEvents();
  HostOptions options;
  options.snapshot_dir = file + "/snapshots";  // cannot be created: a file is in the way
  options.metrics_sink = &events_;
  options.start_maintenance_thread = false;
  {
    std::unique_ptr<Host> host = *Host::Create(options);
    FunctionSpec spec;
    spec.name = "table";
    spec.module_path = TestModule("snapshot_counter");
    ASSERT_TRUE(host->Register(spec).ok());
    EXPECT_THAT(*host->Invoke("table", "x"), StartsWith("origin=init"));
  }
  const SnapshotEvents::Event* failed = Find(SnapshotEventKind::kWriteFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_THAT(failed->detail, HasSubstr("not-a-directory"));
}

}  // namespace
}  // namespace fnhost
