// A module built against an ABI that does not exist: its table says abi_version 999. Every
// function pointer is NULL, so a host that reads past the version check crashes the test.
#include "fnhost/abi.h"

namespace {

constexpr fnhost_module_v1 kTable = {
    .abi_version = 999,
    .struct_size = sizeof(fnhost_module_v1),
    .sdk_version = 0,
    .flags = 0,
    .max_concurrency_per_instance = 1,
    .name = "wrong_abi",
    .version = "1.0.0",
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const fnhost_module_v1* fnhost_module_entry(
    uint32_t) {
  return &kTable;
}
