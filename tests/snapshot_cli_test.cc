// The snapshot commands of the `fnhost` binary, run as a user runs them: `fnhost snapshot`
// builds a snapshot ahead of time, `fnhost inspect` prints and verifies it, and `fnhost run
// --snapshot-dir` restores from it (or inits and writes one). Damaged snapshots, a missing
// module and a module without snapshot support each give one clear line and a non-zero exit.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process_util.h"
#include "tests/support/test_util.h"

extern char** environ;

namespace fnhost {
namespace {

using ::fnhost::testing::ReadFileBytes;
using ::fnhost::testing::TempDir;
using ::fnhost::testing::TestModule;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the fnhost binary with `args`, its stdout and stderr captured through files in `scratch`.
CliResult RunCli(const TempDir& scratch, std::vector<std::string> args) {
  const std::string out_path = scratch.File("cli.stdout");
  const std::string err_path = scratch.File("cli.stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  args.insert(args.begin(), FNHOST_CLI_PATH);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  CliResult result;
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, FNHOST_CLI_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(spawned, 0) << "cannot spawn " << FNHOST_CLI_PATH;
  if (spawned != 0) return result;
  int wait_status = 0;
  EXPECT_TRUE(testing::ReapChild(pid, &wait_status))
      << "fnhost " << args[1] << " ran for " << testing::kWaitBound.count() << " s; killed";
  result.exit_code =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  result.out = ReadFileBytes(out_path);
  result.err = ReadFileBytes(err_path);
  return result;
}

// The one .snap file in `directory`; empty if there is not exactly one.
std::string OnlySnapshotIn(const std::string& directory) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".snap") found.push_back(entry.path().string());
  }
  return found.size() == 1 ? found[0] : "";
}

void FlipByte(const std::string& path, std::streamoff offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.get(byte);
  file.seekp(offset);
  file.put(static_cast<char>(byte ^ 0x5a));
  file.close();
  EXPECT_TRUE(file) << "cannot flip the byte at " << offset << " of " << path;
}

size_t Lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

class SnapshotCliTest : public ::testing::Test {
 protected:
  // Builds a snapshot of snapshot_counter with `entries` entries into snapshots_ (as a
  // directory, so it gets the name a Host looks for) and returns its path.
  std::string SnapshotInto(const std::string& entries) {
    CliResult built = RunCli(scratch_, {"snapshot", module_, "--out=" + snapshots_ + "/",
                                        "--init-config=" + entries});
    EXPECT_EQ(built.exit_code, 0) << built.err;
    std::string path = OnlySnapshotIn(snapshots_);
    EXPECT_THAT(built.out, HasSubstr("wrote " + path));
    return path;
  }

  CliResult Run(const std::string& entries) {
    return RunCli(scratch_, {"run", module_, "--snapshot-dir=" + snapshots_,
                             "--init-config=" + entries});
  }

  TempDir scratch_;
  const std::string snapshots_ = scratch_.File("snapshots");
  const std::string module_ = TestModule("snapshot_counter");
};

TEST_F(SnapshotCliTest, SnapshotInspectAndRunRestores) {
  const std::string path = SnapshotInto("300");
  ASSERT_FALSE(path.empty());

  CliResult inspected = RunCli(scratch_, {"inspect", path});
  EXPECT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_THAT(inspected.out,
              AllOf(HasSubstr("fnhost state snapshot"), HasSubstr("snapshot_counter 1.0.0"),
                    HasSubstr("sha256"), HasSubstr("build id"), HasSubstr("table"),
                    HasSubstr("all checksums match")));

  CliResult run = Run("300");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // sum of i*i for i < 300
  EXPECT_THAT(run.out, HasSubstr("origin=restore after_restore=1 entries=300 sum=8955050"));
  EXPECT_THAT(run.err, AllOf(HasSubstr("state from snapshot"), HasSubstr("state restore"),
                             HasSubstr("snapshot restored: " + path)));
}

TEST_F(SnapshotCliTest, OutFileSaysWhichNameTheHostLooksFor) {
  const std::string file = scratch_.File("built.snap");
  CliResult built =
      RunCli(scratch_, {"snapshot", module_, "--out=" + file, "--init-config=40"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  ASSERT_TRUE(std::filesystem::exists(file));

  // The Host's own snapshot of the same module and config gets the name the command printed.
  CliResult first = Run("40");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.err, AllOf(HasSubstr("state from init"), HasSubstr("snapshot written")));
  const std::string host_written = OnlySnapshotIn(snapshots_);
  ASSERT_FALSE(host_written.empty());
  const std::string name = std::filesystem::path(host_written).filename().string();
  EXPECT_THAT(built.out, HasSubstr("place it in a Host's snapshot_dir as " + name));

  // Put in its place, the ahead-of-time snapshot is restored.
  std::filesystem::rename(file, host_written);
  CliResult run = Run("40");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("origin=restore"));
}

TEST_F(SnapshotCliTest, FunctionNameIsPartOfTheFileName) {
  CliResult built = RunCli(scratch_, {"snapshot", module_, "--out=" + snapshots_ + "/",
                                      "--init-config=40", "--function=counter"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string path = OnlySnapshotIn(snapshots_);
  EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("counter.", 0), 0u) << path;
  EXPECT_THAT(built.out, HasSubstr("restores function 'counter'"));

  // `fnhost run` registers the module as "main": not this snapshot.
  CliResult run = Run("40");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("origin=init"));
}

TEST_F(SnapshotCliTest, RunInitsAndWritesThenRestores) {
  CliResult first = Run("25");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("origin=init"));
  EXPECT_THAT(first.err, AllOf(HasSubstr("state from init"), HasSubstr("state init"),
                               HasSubstr("snapshot written")));

  CliResult second = Run("25");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("origin=restore"));
  EXPECT_THAT(second.err, AllOf(HasSubstr("state from snapshot"), HasSubstr("state restore"),
                                Not(HasSubstr("state init"))));

  // Another init config is another snapshot: init again.
  CliResult other = Run("26");
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_THAT(other.out, HasSubstr("origin=init"));
}

TEST_F(SnapshotCliTest, DamagedSectionFailsInspect) {
  const std::string path = SnapshotInto("300");
  FlipByte(path, 4096 + 10);  // inside section "table"
  CliResult inspected = RunCli(scratch_, {"inspect", path});
  EXPECT_EQ(inspected.exit_code, 1);
  EXPECT_THAT(inspected.out, AllOf(HasSubstr("CHECKSUM MISMATCH"), HasSubstr("DAMAGED")));
  EXPECT_THAT(inspected.err, AllOf(HasSubstr(path), HasSubstr("section 'table'"),
                                   HasSubstr("checksum mismatch")));
  EXPECT_EQ(Lines(inspected.err), 1u) << inspected.err;
}

TEST_F(SnapshotCliTest, DamagedHeaderFailsInspectAndRunFallsBackToInit) {
  const std::string path = SnapshotInto("300");
  FlipByte(path, 30);  // inside the protobuf header
  CliResult inspected = RunCli(scratch_, {"inspect", path});
  EXPECT_EQ(inspected.exit_code, 1);
  EXPECT_THAT(inspected.err, AllOf(HasSubstr(path), HasSubstr("header checksum mismatch")));
  EXPECT_EQ(Lines(inspected.err), 1u) << inspected.err;

  CliResult run = Run("300");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("origin=init after_restore=0 entries=300 sum=8955050"));
  EXPECT_THAT(run.err, AllOf(HasSubstr("snapshot rejected"), HasSubstr("header checksum mismatch"),
                             HasSubstr("state from init")));
}

TEST_F(SnapshotCliTest, TruncatedSnapshotFailsInspect) {
  const std::string path = SnapshotInto("3000");
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4096);
  CliResult inspected = RunCli(scratch_, {"inspect", path});
  EXPECT_EQ(inspected.exit_code, 1);
  EXPECT_THAT(inspected.err, AllOf(HasSubstr(path), HasSubstr("truncated")));

  // Cut before the magic: still reported as a snapshot, by its name.
  std::filesystem::resize_file(path, 4);
  inspected = RunCli(scratch_, {"inspect", path});
  EXPECT_EQ(inspected.exit_code, 1);
  EXPECT_THAT(inspected.err, AllOf(HasSubstr(path), HasSubstr("truncated")));
}

TEST_F(SnapshotCliTest, MissingModuleIsOneLineNamingIt) {
  const std::string missing = scratch_.File("no-such-module.so");
  CliResult built = RunCli(scratch_, {"snapshot", missing, "--out=" + snapshots_ + "/"});
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_THAT(built.err, AllOf(HasSubstr("fnhost snapshot: "), HasSubstr(missing)));
  EXPECT_EQ(Lines(built.err), 1u) << built.err;
  EXPECT_FALSE(std::filesystem::exists(snapshots_));
}

TEST_F(SnapshotCliTest, ModuleWithoutSnapshotSupportIsAClearError) {
  const std::string hello = TestModule("hello");
  CliResult built = RunCli(scratch_, {"snapshot", hello, "--out=" + snapshots_ + "/"});
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_THAT(built.err, AllOf(HasSubstr(hello), HasSubstr("does not support snapshots")));
  EXPECT_EQ(Lines(built.err), 1u) << built.err;
  EXPECT_FALSE(std::filesystem::exists(snapshots_));
}

TEST_F(SnapshotCliTest, FailingInitWritesNothing) {
  CliResult built = RunCli(
      scratch_, {"snapshot", module_, "--out=" + snapshots_ + "/", "--init-config=many"});
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_THAT(built.err,
              AllOf(HasSubstr(module_), HasSubstr("init config must be an entry count")));
  EXPECT_EQ(Lines(built.err), 1u) << built.err;
  EXPECT_FALSE(std::filesystem::exists(snapshots_));
}

TEST_F(SnapshotCliTest, UnwritableOutputIsOneLineNamingIt) {
  const std::string blocker = scratch_.Write("blocker", "a file, not a directory");
  CliResult built = RunCli(scratch_, {"snapshot", module_, "--out=" + blocker + "/x.snap"});
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_THAT(built.err, HasSubstr(blocker));
  EXPECT_EQ(Lines(built.err), 1u) << built.err;
}

TEST_F(SnapshotCliTest, MissingOutIsAUsageError) {
  CliResult built = RunCli(scratch_, {"snapshot", module_});
  EXPECT_EQ(built.exit_code, 2);
  EXPECT_THAT(built.err, AllOf(HasSubstr("--out"), HasSubstr("usage: fnhost snapshot")));
}

}  // namespace
}  // namespace fnhost
