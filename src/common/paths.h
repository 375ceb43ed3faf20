// Paths as a person types them. A relative path is made absolute once, where it enters fnhost:
// against the current directory for the command line and for embedders (Host::Register,
// Reload, SetCanary, HostOptions::snapshot_dir), against a config file's directory for what
// the config names. So dlopen never searches the library path for a name without a slash, a
// later chdir cannot change which file a path names, and every message names the file in full.
// Stateless; thread-safe.

#ifndef FNHOST_SRC_COMMON_PATHS_H_
#define FNHOST_SRC_COMMON_PATHS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

// `path` unchanged when it is absolute or empty; otherwise `base` (an absolute directory) and
// `path` joined, without "." components or repeated slashes. ".." stays: through a symbolic
// link, "dir/.." is not the directory holding "dir". A trailing slash stays (it may mean "a
// directory").
std::string AbsolutePathFrom(std::string_view base, std::string_view path);

// `path` made absolute against the current directory. An error names `path` when the current
// directory cannot be read (it was removed).
absl::StatusOr<std::string> AbsolutePath(std::string_view path);

// The absolute directory holding `file` (the current directory for a bare file name).
absl::StatusOr<std::string> AbsoluteParentDirectory(std::string_view file);

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_PATHS_H_
