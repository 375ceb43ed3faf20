#include "src/loader/module_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/strings.h"

namespace fnhost {

absl::Status CheckModuleFile(FileSystem& fs, std::string_view function, const std::string& path,
                             const ModuleFileChecks& checks) {
  absl::StatusOr<struct stat> st = fs.Stat(path);
  if (!st.ok()) {
    return absl::Status(st.status().code(), absl::StrCat("function '", AsAbsl(function),
                                                         "': ", st.status().message()));
  }
  if (S_ISDIR(st->st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", AsAbsl(function), "': module ", path, " is a directory, not a file"));
  }
  if (!S_ISREG(st->st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", AsAbsl(function), "': module ", path, " is not a regular file"));
  }
  if (!checks.allow_writable && (st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "function '%s': module %s is writable by %s (mode %04o); anyone who can write it can "
        "run code in this host. Fix with `chmod go-w %s`, or set allow_writable_modules",
        AsAbsl(function), path, (st->st_mode & S_IWOTH) ? "others" : "its group",
        st->st_mode & 07777, path));
  }
  return absl::OkStatus();
}

absl::Status CheckModuleSha256(std::string_view function, const std::string& path,
                               std::string_view actual_sha256, std::string_view expected_sha256) {
  if (actual_sha256 == absl::AsciiStrToLower(AsAbsl(expected_sha256))) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("function '", AsAbsl(function), "': module ",
                                                  path, " has SHA-256 ", AsAbsl(actual_sha256),
                                                  " but the spec pins ", AsAbsl(expected_sha256)));
}

}  // namespace fnhost
