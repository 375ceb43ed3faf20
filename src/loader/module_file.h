// Checks a module file before anything maps it: the cheap defences against loading the wrong
// or a tampered object. Stateless and thread-safe.

#ifndef FNHOST_SRC_LOADER_MODULE_FILE_H_
#define FNHOST_SRC_LOADER_MODULE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "src/common/file_system.h"

namespace fnhost {

struct ModuleFileChecks {
  // Accept a file writable by group or others. Default: false.
  bool allow_writable = false;
};

// Checks that `path` is a regular file, not writable by group or others (unless allowed), and
// not a directory or device. Messages name the function and the file.
absl::Status CheckModuleFile(FileSystem& fs, std::string_view function, const std::string& path,
                             const ModuleFileChecks& checks);

// Checks that `actual_sha256` (lower-case hex, of the bytes read from `path`) is
// `expected_sha256` (lower- or upper-case hex).
absl::Status CheckModuleSha256(std::string_view function, const std::string& path,
                               std::string_view actual_sha256, std::string_view expected_sha256);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_MODULE_FILE_H_
