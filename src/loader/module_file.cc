#include "src/common/function_error.h"
#include "src/loader/module_file.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/strings.h"

namespace fnhost {

absl::Status CheckModuleMode(std::string_view function, const std::string& path, mode_t mode,
                             const ModuleFileChecks& checks) {
  if (checks.allow_writable || (mode & (S_IWGRP | S_IWOTH)) == 0) return absl::OkStatus();
  return absl::PermissionDeniedError(FunctionMessage(
      function, absl::StrFormat("module %s is writable by %s (mode %04o); anyone who can write it "
                                "can run code in this host. Fix with `chmod go-w %s`, or set "
                                "allow_writable_modules",
                                path, (mode & S_IWOTH) ? "others" : "its group", mode & 07777,
                                path)));
}

absl::Status CheckModuleSha256(std::string_view function, const std::string& path,
                               std::string_view actual_sha256, std::string_view expected_sha256) {
  if (actual_sha256 == absl::AsciiStrToLower(AsAbsl(expected_sha256))) return absl::OkStatus();
  return absl::PermissionDeniedError(FunctionMessage(function, "module ", path, " has SHA-256 ",
                                                     actual_sha256, " but the spec pins ",
                                                     expected_sha256));
}

}  // namespace fnhost
