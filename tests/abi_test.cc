// Guards the module ABI: abi.h may change only together with FNHOST_ABI_VERSION, the frozen
// header of every older version the host still loads stays byte for byte what that release
// shipped, and today's tables begin with the fields of ABI 1 at their old offsets.
#include "fnhost/abi.h"

#include <cstddef>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "src/common/sha256.h"

extern "C" {
struct fnhost_v1_layout_entry {
  const char* field;
  size_t offset;
};
extern const fnhost_v1_layout_entry fnhost_v1_layout[];
extern const size_t fnhost_v1_layout_count;
extern const size_t fnhost_v1_module_size;
extern const size_t fnhost_v1_init_context_size;
}

namespace fnhost {
namespace {

// The SHA-256 of include/fnhost/abi.h for each released ABI version. When this test fails you
// changed abi.h: bump FNHOST_ABI_VERSION, add the new version's hash here, and freeze the old
// header under tests/abi/v<N>/ (the window keeps loading its modules). Never edit an existing
// line: a module built against that version would load with a different layout.
struct ReleasedAbi {
  unsigned version;
  const char* header_sha256;
};
constexpr ReleasedAbi kReleasedAbis[] = {
    {1, "d56cdb9ba5d34b21cecd61b3c4d14e68d12a587dab56f15079ced9f2552ea171"},
    {2, "b86cc0ade85f3b9584a51c7308cec658b6ad055c2e7479d36da719a2e48c357c"},
};

// The SDK header that shipped with ABI 1, frozen with it (the ABI-1 test module uses both).
constexpr const char* kFrozenSdkV1Sha256 =
    "7e1192b916b1b84a39a366d4b8d9cffeea06b136cde83a808b33ee53d6216179";

// fnhost/builtin_services.h: versioned by its services (metrics 1, kv 1), not by the ABI. A
// change needs a new service version that only appends, and a new line here.
constexpr const char* kBuiltinServicesSha256 =
    "b4457f7c1d097024bbb5de78d17ab1bd21082ff5b2f09d3b649eb1ad11b2431f";

std::string Sha256OfFile(const std::string& relative_path) {
  std::ifstream file(std::string(FNHOST_SOURCE_DIR) + "/" + relative_path, std::ios::binary);
  EXPECT_TRUE(file.good()) << relative_path;
  std::stringstream contents;
  contents << file.rdbuf();
  return Sha256Hex(contents.str());
}

const char* RecordedHash(unsigned version) {
  for (const ReleasedAbi& abi : kReleasedAbis) {
    if (abi.version == version) return abi.header_sha256;
  }
  return nullptr;
}

TEST(AbiTest, HeaderMatchesTheHashRecordedForItsVersion) {
  const std::string hash = Sha256OfFile("include/fnhost/abi.h");
  const char* recorded = RecordedHash(FNHOST_ABI_VERSION);
  ASSERT_NE(recorded, nullptr) << "FNHOST_ABI_VERSION " << FNHOST_ABI_VERSION
                               << " has no recorded hash; abi.h hashes to " << hash;
  EXPECT_EQ(hash, recorded)
      << "abi.h changed without a FNHOST_ABI_VERSION bump (it now hashes to " << hash << ")";
}

TEST(AbiTest, EveryVersionInTheWindowHasItsHeaderFrozenUnchanged) {
  for (unsigned version = FNHOST_ABI_OLDEST_VERSION; version < FNHOST_ABI_VERSION; ++version) {
    const std::string path = "tests/abi/v" + std::to_string(version) + "/fnhost/abi.h";
    const char* recorded = RecordedHash(version);
    ASSERT_NE(recorded, nullptr) << "ABI " << version;
    EXPECT_EQ(Sha256OfFile(path), recorded)
        << path << " is not the header that ABI " << version << " shipped";
  }
  EXPECT_EQ(Sha256OfFile("tests/abi/v1/fnhost/module.h"), kFrozenSdkV1Sha256)
      << "tests/abi/v1/fnhost/module.h is not the SDK that ABI 1 shipped";
}

TEST(AbiTest, BuiltinServicesHeaderMatchesItsRecordedHash) {
  EXPECT_EQ(Sha256OfFile("include/fnhost/builtin_services.h"), kBuiltinServicesSha256)
      << "fnhost/builtin_services.h changed: give the service a new version that only "
         "appends, and record the new hash";
}

TEST(AbiTest, TableLayoutIsStable) {
  // The host reads these two fields before anything else, whatever the version.
  EXPECT_EQ(offsetof(fnhost_module, abi_version), 0u);
  EXPECT_EQ(offsetof(fnhost_module, struct_size), 4u);
}

// Every field of ABI 1 where a module of ABI 1 put it; the fields of ABI 2 come after them.
TEST(AbiTest, TablesOfAbi2BeginWithTheFieldsOfAbi1) {
#define FIELD(type, field) {#type "." #field, offsetof(type, field)}
  const std::map<std::string, size_t> today = {
      FIELD(fnhost_module, abi_version),
      FIELD(fnhost_module, struct_size),
      FIELD(fnhost_module, sdk_version),
      FIELD(fnhost_module, flags),
      FIELD(fnhost_module, max_concurrency_per_instance),
      FIELD(fnhost_module, name),
      FIELD(fnhost_module, version),
      FIELD(fnhost_module, state_create),
      FIELD(fnhost_module, state_restore),
      FIELD(fnhost_module, state_after_restore),
      FIELD(fnhost_module, state_snapshot),
      FIELD(fnhost_module, state_destroy),
      FIELD(fnhost_module, instance_create),
      FIELD(fnhost_module, instance_destroy),
      FIELD(fnhost_module, invoke),
      FIELD(fnhost_host_init_context, function_name),
      FIELD(fnhost_host_init_context, init_config),
      FIELD(fnhost_host_init_context, init_config_size),
      FIELD(fnhost_host_init_context, logger),
      FIELD(fnhost_host_init_context, error),
      FIELD(fnhost_host_output, host_data),
      FIELD(fnhost_host_output, allocate_response),
      FIELD(fnhost_host_output, set_error_message),
      FIELD(fnhost_host_logger, host_data),
      FIELD(fnhost_host_logger, log),
      FIELD(fnhost_host_snapshot_writer, host_data),
      FIELD(fnhost_host_snapshot_writer, write_section),
      FIELD(fnhost_host_snapshot_reader, host_data),
      FIELD(fnhost_host_snapshot_reader, find_section),
  };
#undef FIELD
  ASSERT_EQ(fnhost_v1_layout_count, today.size());
  for (size_t i = 0; i < fnhost_v1_layout_count; ++i) {
    std::string field = fnhost_v1_layout[i].field;
    // The frozen header names the table fnhost_module_v1.
    if (field.starts_with("fnhost_module_v1.")) field.replace(0, 16, "fnhost_module");
    auto it = today.find(field);
    ASSERT_NE(it, today.end()) << field;
    EXPECT_EQ(it->second, fnhost_v1_layout[i].offset) << field << " moved";
  }
  EXPECT_EQ(FNHOST_MODULE_SIZE_V1, fnhost_v1_module_size);
  EXPECT_GT(sizeof(fnhost_module), fnhost_v1_module_size);
  EXPECT_EQ(offsetof(fnhost_host_init_context, struct_size), fnhost_v1_init_context_size)
      << "the init context's fields of ABI 2 must start where ABI 1's context ended";
}

}  // namespace
}  // namespace fnhost
