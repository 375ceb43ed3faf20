// Tests of AbsolutePathFrom / AbsolutePath: how a path as typed becomes the absolute path that
// the loader, the snapshot store and every message use.

#include "src/common/paths.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::testing::HasSubstr;

TEST(PathsTest, JoinsRelativePathsToTheBase) {
  EXPECT_EQ(AbsolutePathFrom("/srv", "greeter.so"), "/srv/greeter.so");
  EXPECT_EQ(AbsolutePathFrom("/srv/", "modules/greeter.so"), "/srv/modules/greeter.so");
  EXPECT_EQ(AbsolutePathFrom("/", "greeter.so"), "/greeter.so");
}

TEST(PathsTest, DropsDotComponentsAndRepeatedSlashesButKeepsDotDot) {
  EXPECT_EQ(AbsolutePathFrom("/srv", "./greeter.so"), "/srv/greeter.so");
  EXPECT_EQ(AbsolutePathFrom("/srv", "a/.//./b.so"), "/srv/a/b.so");
  EXPECT_EQ(AbsolutePathFrom("/srv", "../lib/b.so"), "/srv/../lib/b.so");
  EXPECT_EQ(AbsolutePathFrom("/srv", "."), "/srv");
}

TEST(PathsTest, KeepsATrailingSlash) {
  EXPECT_EQ(AbsolutePathFrom("/srv", "snapshots/"), "/srv/snapshots/");
  EXPECT_EQ(AbsolutePathFrom("/srv", "./"), "/srv/");
}

TEST(PathsTest, LeavesAbsoluteAndEmptyPathsAlone) {
  EXPECT_EQ(AbsolutePathFrom("/srv", "/opt/./m.so"), "/opt/./m.so");
  EXPECT_EQ(AbsolutePathFrom("/srv", ""), "");
}

TEST(PathsTest, AbsolutePathUsesTheCurrentDirectory) {
  const std::string cwd = std::filesystem::current_path().string();
  absl::StatusOr<std::string> path = AbsolutePath("greeter.so");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, cwd + "/greeter.so");
  absl::StatusOr<std::string> parent = AbsoluteParentDirectory("host.textproto");
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, cwd);
}

TEST(PathsTest, ARemovedCurrentDirectoryIsAnErrorNamingThePath) {
  const std::string cwd = std::filesystem::current_path().string();
  testing::TempDir dir;
  const std::string gone = dir.File("gone");
  ASSERT_EQ(::mkdir(gone.c_str(), 0700), 0);
  ASSERT_EQ(::chdir(gone.c_str()), 0);
  ASSERT_EQ(::rmdir(gone.c_str()), 0);
  absl::StatusOr<std::string> path = AbsolutePath("greeter.so");
  ASSERT_EQ(::chdir(cwd.c_str()), 0);
  ASSERT_FALSE(path.ok());
  EXPECT_THAT(std::string(path.status().message()), HasSubstr("greeter.so"));
  // An absolute path needs no current directory.
  EXPECT_EQ(AbsolutePathFrom("/x", "/m.so"), "/m.so");
}

}  // namespace
}  // namespace fnhost
