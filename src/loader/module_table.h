// Checks the function table a module's entry returned, for every ABI version this host loads,
// and keeps what the host may use of it.
//
// A host of FNHOST_ABI_VERSION loads modules of its own version and of the one before it
// (FNHOST_ABI_OLDEST_VERSION). A module's table is read only up to the size of the module's
// version, and copied into a full-size fnhost_module whose later fields are zero: the rest of
// the host reads that copy, never the module's table, so it cannot read past what an older
// module has. Immutable values; thread-compatible.

#ifndef FNHOST_SRC_LOADER_MODULE_TABLE_H_
#define FNHOST_SRC_LOADER_MODULE_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fnhost/abi.h"

namespace fnhost {

// What the host knows of a checked module table.
struct ModuleAbi {
  // The ABI version the module was built for, FNHOST_ABI_OLDEST_VERSION..FNHOST_ABI_VERSION.
  uint32_t version = 0;
  // The module's table as far as its version goes; the fields of later versions are zero.
  fnhost_module table{};

  // Whether the module takes a call context (invoke_with_context is set; ABI 2 and later).
  bool has_context() const { return table.invoke_with_context != nullptr; }
  // The module's state schema; 0 when it declares none (or predates ABI 2).
  uint32_t state_schema() const { return table.state_schema; }
};

// Checks `table` (what `path`'s entry returned; NULL means it refused to load) and returns the
// host's copy of it. FAILED_PRECONDITION, naming `function`, `path` and the cause, for a version
// outside the window, a table smaller than its version's, or missing or inconsistent entries.
absl::StatusOr<ModuleAbi> CheckModuleTable(std::string_view function, const std::string& path,
                                           const fnhost_module* table);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_TABLE_H_
