// Loads a module shared object, checks its ABI and hands out its function table; unloads it
// again and reports whether it really left memory.
//
// Load reads the module file once into a sealed in-memory copy (sealed_file.h), checks those
// bytes (elf_info.h: header, segments, dynamic tables), takes the build id (and, when pinned,
// the SHA-256) from them, and dlopens the copy itself: what was checked is exactly what runs,
// and a file truncated or rewritten on disk afterwards changes nothing for the loaded module.
// Each load is a new object for the dynamic loader, with its own globals, even of a path that
// is already loaded (hot reload, canary). The dependencies that come with a module are kept
// loaded for good (dependencies.h), so that Unload unmaps only the module's own object, and
// Unload leaves even that mapped while a thread may still run its code (module_threads.h).
//
// A LoadedModule owns one dlopen reference. It is immutable after Load (its SHA-256 is
// computed once, on first use) and safe to share between threads; destroying it (or Unload)
// must not race with calls into the module.

#ifndef FNHOST_SRC_LOADER_MODULE_LOADER_H_
#define FNHOST_SRC_LOADER_MODULE_LOADER_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/clock.h"
#include "src/loader/module_table.h"
#include "src/loader/module_threads.h"
#include "src/loader/sealed_file.h"

namespace fnhost {

struct LoadOptions {
  // Accept module files writable by group or others. Default: false.
  bool allow_writable = false;
  // Lower-case hex SHA-256 the file must have. Default: empty, not pinned.
  std::string sha256;
};

// How long each step of a load took. file_checks covers the copy and its validation.
struct LoadTimings {
  absl::Duration file_checks;
  absl::Duration dlopen;
  absl::Duration abi_check;
};

// Result of an unload attempt.
enum class UnloadResult {
  kUnloaded,         // the object left the address space
  kStillMapped,      // dlclose returned, but something keeps the object mapped
  kKeptForThreads,   // not dlclosed: a thread may still run the module's code
};

struct UnloadReport {
  UnloadResult result = UnloadResult::kUnloaded;
  std::string reason;  // why the object stays mapped; empty when it left
};

class LoadedModule {
 public:
  // Checks and copies the file, dlopens the copy (RTLD_NOW | RTLD_LOCAL), calls the entry and
  // checks the table. `function` names the function in error messages.
  static absl::StatusOr<std::unique_ptr<LoadedModule>> Load(std::string_view function,
                                                            const std::string& path,
                                                            const LoadOptions& options,
                                                            Clock& clock, LoadTimings* timings);
  ~LoadedModule();

  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  // The host's copy of the module's table (module_table.h): fields of ABI versions newer than
  // the module's are zero.
  const fnhost_module& table() const { return abi_.table; }
  const ModuleAbi& abi() const { return abi_; }
  // The path the caller asked for.
  const std::string& path() const { return path_; }
  bool supports_snapshots() const {
    return (abi_.table.flags & FNHOST_MODULE_FLAG_SNAPSHOT) != 0;
  }

  // The identity of the loaded file: the ELF build id (lower-case hex, empty if none) and the
  // SHA-256 of the whole file as it was loaded (lower-case hex; hashed on first use, about
  // 1 ms per 1.5 MB, unless pinned; an error if the file changed since and the copy is only
  // its loaded part, see SealedFile::Sha256).
  const std::string& build_id() const { return build_id_; }
  const absl::StatusOr<std::string>& sha256() const;
  // The file's key when it was read, and whether the loaded bytes are that version's (the
  // file did not change while it was read).
  const FileKey& source_key() const { return file_->source_key(); }
  bool source_unchanged() const { return file_->source_unchanged(); }

  // dlcloses the module, unless a thread may still run its code, and checks with RTLD_NOLOAD
  // whether it left memory. The module must not be used afterwards.
  UnloadReport Unload();

 private:
  LoadedModule(std::string path, std::unique_ptr<SealedFile> file, std::string build_id,
               void* handle, std::vector<CodeRange> code, pid_t newer_threads_than);
  // Leaves the object mapped for the life of the process, and its copy open so that its
  // name is never reused for another object.
  void Keep();

  const std::string path_;
  std::unique_ptr<SealedFile> file_;
  const std::string build_id_;
  void* handle_;
  ModuleAbi abi_;  // set once the table is checked
  const std::vector<CodeRange> code_;  // the executable segments, where mapped
  const pid_t newer_threads_than_;     // LastThreadId() before the dlopen
  mutable std::once_flag sha256_once_;
  mutable absl::StatusOr<std::string> sha256_;
};

// Whether a shared object loaded from this path is mapped in the process: loaded by this
// loader from a copy of the file (and not unloaded, or kept), or by dlopen of the path itself.
bool IsLoaded(const std::string& path);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_LOADER_H_
