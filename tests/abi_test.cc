// Guards the module ABI: abi.h may change only together with FNHOST_ABI_VERSION.
#include "fnhost/abi.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "src/common/sha256.h"

namespace fnhost {
namespace {

// The SHA-256 of include/fnhost/abi.h for each released ABI version. When this test fails you
// changed abi.h: bump FNHOST_ABI_VERSION, and add the new version's hash here. Never edit an
// existing line: a module built against that version would load with a different layout.
struct ReleasedAbi {
  unsigned version;
  const char* header_sha256;
};
constexpr ReleasedAbi kReleasedAbis[] = {
    {1, "d56cdb9ba5d34b21cecd61b3c4d14e68d12a587dab56f15079ced9f2552ea171"},
};

TEST(AbiTest, HeaderMatchesTheHashRecordedForItsVersion) {
  std::ifstream file(std::string(FNHOST_SOURCE_DIR) + "/include/fnhost/abi.h",
                     std::ios::binary);
  ASSERT_TRUE(file.good());
  std::stringstream contents;
  contents << file.rdbuf();
  const std::string hash = Sha256Hex(contents.str());

  const ReleasedAbi* current = nullptr;
  for (const ReleasedAbi& abi : kReleasedAbis) {
    if (abi.version == FNHOST_ABI_VERSION) current = &abi;
  }
  ASSERT_NE(current, nullptr) << "FNHOST_ABI_VERSION " << FNHOST_ABI_VERSION
                              << " has no recorded hash; abi.h hashes to " << hash;
  EXPECT_EQ(hash, current->header_sha256)
      << "abi.h changed without a FNHOST_ABI_VERSION bump (it now hashes to " << hash << ")";
}

TEST(AbiTest, TableLayoutIsStable) {
  // The host reads these two fields before anything else, whatever the version.
  EXPECT_EQ(offsetof(fnhost_module_v1, abi_version), 0u);
  EXPECT_EQ(offsetof(fnhost_module_v1, struct_size), 4u);
}

}  // namespace
}  // namespace fnhost
