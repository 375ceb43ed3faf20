// Reads a host configuration (proto/fnhost/config.proto, protobuf text format) into
// FunctionSpecs and the host-wide settings, with compiler-style "file:line:col" errors.
// Stateless; the functions are thread-safe.

#ifndef FNHOST_SRC_CONFIG_CONFIG_LOADER_H_
#define FNHOST_SRC_CONFIG_CONFIG_LOADER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fnhost/function_spec.h"

namespace fnhost {

struct HostConfig {
  // The functions to register, in file order. Relative module paths (module_path and
  // canary.module_path) are already made absolute against the config file's directory, itself
  // made absolute against the current directory. Default: none.
  std::vector<FunctionSpec> functions;
  // Directory of state snapshots, resolved like module paths. Default: empty, snapshots off.
  std::string snapshot_dir;
  // Accept module files writable by group or others (HostOptions::allow_writable_modules).
  // Default: false.
  bool allow_writable_modules = false;
  // Memory all functions' instances share, in MB (HostOptions::memory_budget_mb); no
  // function's instance_memory_mb exceeds it. Default: 0, no budget.
  double memory_budget_mb = 0;
};

// Reads and checks the config file at `path`. A missing file is NOT_FOUND naming the path; a
// syntax error or unknown field is INVALID_ARGUMENT "<path>:<line>:<col>: <cause>" (1-based);
// a semantic error is INVALID_ARGUMENT naming the file and the function.
absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path);

// Same as LoadHostConfig, from text already in memory; `path` is used in messages and to
// resolve relative paths (its directory, against the current directory if `path` is relative).
absl::StatusOr<HostConfig> ParseHostConfig(std::string_view text, const std::string& path);

}  // namespace fnhost

#endif  // FNHOST_SRC_CONFIG_CONFIG_LOADER_H_
