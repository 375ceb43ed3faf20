#include "src/loader/module_table.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"

namespace fnhost {
namespace {

// How many bytes of the table a module of ABI `version` has: what the host may read.
size_t TableSizeOfVersion(uint32_t version) {
  return version == 1 ? FNHOST_MODULE_SIZE_V1 : sizeof(fnhost_module);
}

// The entries every version requires, and the rules between fields. `table` is the host's
// copy, so fields past the module's version are zero.
std::string_view TableProblem(const ModuleAbi& abi) {
  const fnhost_module& table = abi.table;
  if (table.state_create == nullptr || table.state_destroy == nullptr ||
      table.instance_create == nullptr || table.instance_destroy == nullptr) {
    return "function table lacks a required entry (state_create, state_destroy, "
           "instance_create or instance_destroy)";
  }
  if (table.invoke == nullptr && table.invoke_with_context == nullptr) {
    return abi.version == 1 ? "function table lacks its invoke entry"
                            : "function table has neither invoke nor invoke_with_context";
  }
  const bool snapshots = (table.flags & FNHOST_MODULE_FLAG_SNAPSHOT) != 0;
  if (snapshots && (table.state_snapshot == nullptr || table.state_restore == nullptr)) {
    return "declares snapshot support without state_snapshot and state_restore";
  }
  if (table.max_concurrency_per_instance < 1) return "declares max_concurrency_per_instance 0";
  if (table.name == nullptr || table.version == nullptr) {
    return "function table has no name or version";
  }
  if (table.reserved != 0) return "function table has a non-zero reserved field";
  if (table.state_schema != 0 && !snapshots) {
    return "declares a state_schema without snapshot support (state_snapshot and "
           "state_restore)";
  }
  return {};
}

}  // namespace

absl::StatusOr<ModuleAbi> CheckModuleTable(std::string_view function, const std::string& path,
                                           const fnhost_module* table) {
  auto error = [&](std::string_view cause) {
    return absl::FailedPreconditionError(FunctionMessage(function, "module ", path, ": ", cause));
  };
  if (table == nullptr) return error("the entry refused to load (returned NULL)");
  // The version comes first: nothing else in the table can be trusted before it is known.
  ModuleAbi abi;
  abi.version = table->abi_version;
  if (abi.version < FNHOST_ABI_OLDEST_VERSION || abi.version > FNHOST_ABI_VERSION) {
    return error(absl::StrCat("built for fnhost ABI version ", abi.version,
                              "; this host (ABI version ", FNHOST_ABI_VERSION,
                              ") loads ABI versions ", FNHOST_ABI_OLDEST_VERSION, " to ",
                              FNHOST_ABI_VERSION, " (its own and the one before)"));
  }
  const size_t size = TableSizeOfVersion(abi.version);
  if (table->struct_size < size) {
    return error(absl::StrCat("function table of ABI version ", abi.version, " is ",
                              table->struct_size, " bytes, expected at least ", size));
  }
  std::memcpy(&abi.table, table, size);
  if (std::string_view problem = TableProblem(abi); !problem.empty()) return error(problem);
  return abi;
}

}  // namespace fnhost
