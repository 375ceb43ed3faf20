// Loads a module shared object, checks its ABI and hands out its function table; unloads it
// again and reports whether it really left memory.
//
// A LoadedModule owns one dlopen reference. It is immutable after Load and safe to share
// between threads; destroying it (or Unload) must not race with calls into the module.

#ifndef FNHOST_SRC_LOADER_MODULE_LOADER_H_
#define FNHOST_SRC_LOADER_MODULE_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/clock.h"
#include "src/common/file_system.h"

namespace fnhost {

struct LoadOptions {
  // Accept module files writable by group or others. Default: false.
  bool allow_writable = false;
  // Lower-case hex SHA-256 the file must have. Default: empty, not pinned.
  std::string sha256;
  // Load from a private copy in this directory, even if the path is not loaded yet (hot
  // reload: the same path may be rebuilt in place while the old version still runs). When
  // empty, a copy is made only if the path is already loaded in this process. Default: empty.
  std::string force_private_copy_in;
  // Where to put private copies when one is needed. Default: empty, $TMPDIR or /tmp.
  std::string private_dir;
};

// How long each step of a load took.
struct LoadTimings {
  absl::Duration file_checks;
  absl::Duration dlopen;
  absl::Duration abi_check;
};

// Result of an unload attempt.
enum class UnloadResult {
  kUnloaded,     // the object left the address space
  kStillMapped,  // dlclose returned, but something keeps the object mapped
};

class LoadedModule {
 public:
  // Checks the file, dlopens it (RTLD_NOW | RTLD_LOCAL), calls the entry and checks the table.
  // `function` names the function in error messages.
  static absl::StatusOr<std::unique_ptr<LoadedModule>> Load(std::string_view function,
                                                            const std::string& path,
                                                            const LoadOptions& options,
                                                            FileSystem& fs, Clock& clock,
                                                            LoadTimings* timings);
  ~LoadedModule();

  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  const fnhost_module_v1& table() const { return *table_; }
  // The path the caller asked for, and the path actually mapped (a private copy, or the same).
  const std::string& path() const { return path_; }
  const std::string& loaded_path() const { return loaded_path_; }
  bool supports_snapshots() const { return (table_->flags & FNHOST_MODULE_FLAG_SNAPSHOT) != 0; }

  // dlcloses the module and checks with RTLD_NOLOAD whether it left memory; removes a private
  // copy. The module must not be used afterwards.
  UnloadResult Unload();

 private:
  LoadedModule(std::string path, std::string loaded_path, bool private_copy, void* handle,
               const fnhost_module_v1* table);

  std::string path_;
  std::string loaded_path_;
  bool private_copy_;
  void* handle_;
  const fnhost_module_v1* table_;
};

// Whether a shared object with this path is mapped in the process (dlopen RTLD_NOLOAD).
bool IsLoaded(const std::string& path);

// Checks a module's function table as Load does (exposed for the zygote and for tests).
absl::Status CheckModuleTable(std::string_view function, const std::string& path,
                              const fnhost_module_v1* table);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_LOADER_H_
