#include "src/common/function_error.h"
#include "src/sandbox/sandbox_policy.h"

#include <seccomp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::sandbox {
namespace {

absl::Status CheckPaths(std::string_view function, std::string_view field,
                        const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    std::string why;
    struct stat st;
    if (path.empty() || path[0] != '/') {
      why = "is not an absolute path";
    } else if (::stat(path.c_str(), &st) != 0) {
      // Landlock rules hold open files, so the path must exist when a worker starts.
      why = absl::StrCat("cannot be used: ", std::strerror(errno));
    } else {
      continue;
    }
    return absl::InvalidArgumentError(
        FunctionMessage(function, "sandbox ", field, " entry '", path, "' ", why));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view LevelName(SandboxLevel level) {
  switch (level) {
    case SandboxLevel::kOff:
      return "off";
    case SandboxLevel::kBasic:
      return "basic";
    case SandboxLevel::kStrict:
      return "strict";
  }
  return "unknown";
}

absl::StatusOr<SandboxLevel> ParseLevel(std::string_view name) {
  for (SandboxLevel level : {SandboxLevel::kOff, SandboxLevel::kBasic, SandboxLevel::kStrict}) {
    if (name == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown sandbox level '", AsAbsl(name), "' (expected off, basic or strict)"));
}

absl::StatusOr<ValidatedPolicy> ValidateSandboxPolicy(std::string_view function,
                                                      const SandboxPolicy& policy) {
  ValidatedPolicy validated{policy, {}};
  for (const std::string& name : policy.allow_syscalls) {
    int number = ::seccomp_syscall_resolve_name(name.c_str());
    if (number == __NR_SCMP_ERROR || number < 0) {
      return absl::InvalidArgumentError(
          FunctionMessage(function, "sandbox allow_syscalls entry '", name,
                          "' is not a system call on this architecture"));
    }
    validated.allow_syscall_numbers.push_back(number);
  }
  if (absl::Status status = CheckPaths(function, "read_paths", policy.read_paths); !status.ok()) {
    return status;
  }
  if (absl::Status status = CheckPaths(function, "write_paths", policy.write_paths);
      !status.ok()) {
    return status;
  }
  if (policy.cpu_time_limit < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        FunctionMessage(function, "sandbox cpu_time_limit is negative"));
  }
  return validated;
}

}  // namespace fnhost::sandbox
