// Checks a module file before anything maps it: the cheap defences against loading the wrong
// or a tampered object. They apply to the file as opened (its fstat and its bytes), so that it
// cannot be swapped between the check and the read. Stateless and thread-safe.

#ifndef FNHOST_SRC_LOADER_MODULE_FILE_H_
#define FNHOST_SRC_LOADER_MODULE_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fnhost {

struct ModuleFileChecks {
  // Accept a file writable by group or others. Default: false.
  bool allow_writable = false;
};

// Checks that the module file at `path`, of mode `mode`, is not writable by group or others
// (unless allowed). Messages name the function and the file.
absl::Status CheckModuleMode(std::string_view function, const std::string& path, mode_t mode,
                             const ModuleFileChecks& checks);

// Checks that `actual_sha256` (lower-case hex, of the bytes read from `path`) is
// `expected_sha256` (lower- or upper-case hex).
absl::Status CheckModuleSha256(std::string_view function, const std::string& path,
                               std::string_view actual_sha256, std::string_view expected_sha256);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_FILE_H_
