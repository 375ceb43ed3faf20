// The loader's check of a module's table (src/loader/module_table.h) across the compatibility
// window: which versions load, how much of a table is read, and the rules between fields.
#include "src/loader/module_table.h"

#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnhost {
namespace {

using ::testing::HasSubstr;

int32_t StateCreate(const fnhost_host_init_context*, fnhost_module_state**) { return 0; }
void StateDestroy(fnhost_module_state*) {}
int32_t InstanceCreate(const fnhost_module_state*, fnhost_host_output*,
                       fnhost_module_instance**) {
  return 0;
}
void InstanceDestroy(fnhost_module_instance*) {}
int32_t Invoke(fnhost_module_instance*, const uint8_t*, size_t, fnhost_host_output*) { return 0; }
int32_t InvokeWithContext(fnhost_module_instance*, const uint8_t*, size_t, fnhost_host_output*,
                          const fnhost_host_call_context*) {
  return 0;
}
int32_t StateSnapshot(const fnhost_module_state*, const fnhost_host_snapshot_writer*,
                      fnhost_host_output*) {
  return 0;
}
int32_t StateRestore(const fnhost_host_init_context*, const fnhost_host_snapshot_reader*,
                     fnhost_module_state**) {
  return 0;
}

// A valid table of ABI 2.
fnhost_module Table() {
  return fnhost_module{
      .abi_version = 2,
      .struct_size = sizeof(fnhost_module),
      .sdk_version = 0,
      .flags = 0,
      .max_concurrency_per_instance = 1,
      .name = "t",
      .version = "1",
      .state_create = &StateCreate,
      .state_destroy = &StateDestroy,
      .instance_create = &InstanceCreate,
      .instance_destroy = &InstanceDestroy,
      .invoke = &Invoke,
  };
}

absl::StatusOr<ModuleAbi> Check(const fnhost_module& table) {
  return CheckModuleTable("f", "/m.so", &table);
}

TEST(ModuleTableTest, AcceptsItsOwnVersion) {
  fnhost_module table = Table();
  table.invoke_with_context = &InvokeWithContext;
  table.flags = FNHOST_MODULE_FLAG_SNAPSHOT;
  table.state_snapshot = &StateSnapshot;
  table.state_restore = &StateRestore;
  table.state_schema = 3;
  absl::StatusOr<ModuleAbi> abi = Check(table);
  ASSERT_TRUE(abi.ok()) << abi.status();
  EXPECT_EQ(abi->version, 2u);
  EXPECT_TRUE(abi->has_context());
  EXPECT_EQ(abi->state_schema(), 3u);
  EXPECT_EQ(abi->table.invoke_with_context, &InvokeWithContext);
}

TEST(ModuleTableTest, RefusesVersionsOutsideTheWindowNamingBoth) {
  for (uint32_t version : {0u, 3u, 999u}) {
    fnhost_module table = Table();
    table.abi_version = version;
    absl::Status status = Check(table).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(status.message(),
              "function 'f': module /m.so: built for fnhost ABI version " +
                  std::to_string(version) +
                  "; this host (ABI version 2) loads ABI versions 1 to 2 (its own and the one "
                  "before)");
  }
}

// A table of ABI 1 is read only up to ABI 1's size: whatever lies after it in the module's
// memory is never taken for the fields of ABI 2.
TEST(ModuleTableTest, ReadsATableOfAbi1OnlyUpToItsSize) {
  std::vector<unsigned char> memory(sizeof(fnhost_module), 0xAB);
  fnhost_module v1 = Table();
  v1.abi_version = 1;
  v1.struct_size = FNHOST_MODULE_SIZE_V1;
  std::memcpy(memory.data(), &v1, FNHOST_MODULE_SIZE_V1);
  absl::StatusOr<ModuleAbi> abi =
      CheckModuleTable("f", "/m.so", reinterpret_cast<const fnhost_module*>(memory.data()));
  ASSERT_TRUE(abi.ok()) << abi.status();
  EXPECT_EQ(abi->version, 1u);
  EXPECT_FALSE(abi->has_context());
  EXPECT_EQ(abi->state_schema(), 0u);
  EXPECT_EQ(abi->table.reserved, 0u);
  EXPECT_EQ(abi->table.invoke, &Invoke);
}

TEST(ModuleTableTest, RefusesATableSmallerThanItsVersionSays) {
  fnhost_module v1 = Table();
  v1.abi_version = 1;
  v1.struct_size = FNHOST_MODULE_SIZE_V1 - 8;
  EXPECT_THAT(Check(v1).status().message(),
              HasSubstr("function table of ABI version 1 is " +
                        std::to_string(FNHOST_MODULE_SIZE_V1 - 8) + " bytes, expected at least " +
                        std::to_string(FNHOST_MODULE_SIZE_V1)));
  fnhost_module v2 = Table();
  v2.struct_size = FNHOST_MODULE_SIZE_V1;
  EXPECT_THAT(Check(v2).status().message(),
              HasSubstr("function table of ABI version 2 is " +
                        std::to_string(FNHOST_MODULE_SIZE_V1) + " bytes"));
}

TEST(ModuleTableTest, Abi1RequiresInvoke) {
  fnhost_module v1 = Table();
  v1.abi_version = 1;
  v1.struct_size = FNHOST_MODULE_SIZE_V1;
  v1.invoke = nullptr;
  EXPECT_THAT(Check(v1).status().message(), HasSubstr("lacks its invoke entry"));
}

TEST(ModuleTableTest, Abi2NeedsOneOfTheInvokeEntries) {
  fnhost_module table = Table();
  table.invoke = nullptr;
  EXPECT_THAT(Check(table).status().message(),
              HasSubstr("has neither invoke nor invoke_with_context"));
  table.invoke_with_context = &InvokeWithContext;
  absl::StatusOr<ModuleAbi> abi = Check(table);
  ASSERT_TRUE(abi.ok()) << abi.status();
  EXPECT_TRUE(abi->has_context());
}

TEST(ModuleTableTest, RefusesInconsistentFields) {
  fnhost_module reserved = Table();
  reserved.reserved = 1;
  EXPECT_THAT(Check(reserved).status().message(), HasSubstr("non-zero reserved field"));

  fnhost_module schema = Table();
  schema.state_schema = 2;
  EXPECT_THAT(Check(schema).status().message(),
              HasSubstr("declares a state_schema without snapshot support"));

  fnhost_module required = Table();
  required.instance_create = nullptr;
  EXPECT_THAT(Check(required).status().message(), HasSubstr("lacks a required entry"));

  fnhost_module concurrency = Table();
  concurrency.max_concurrency_per_instance = 0;
  EXPECT_THAT(Check(concurrency).status().message(),
              HasSubstr("max_concurrency_per_instance 0"));

  fnhost_module snapshot = Table();
  snapshot.flags = FNHOST_MODULE_FLAG_SNAPSHOT;
  EXPECT_THAT(Check(snapshot).status().message(),
              HasSubstr("snapshot support without state_snapshot and state_restore"));

  EXPECT_THAT(CheckModuleTable("f", "/m.so", nullptr).status().message(),
              HasSubstr("the entry refused to load (returned NULL)"));
}

}  // namespace
}  // namespace fnhost
