#include "src/common/paths.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"

namespace fnhost {

std::string AbsolutePathFrom(std::string_view base, std::string_view path) {
  if (path.empty() || path.front() == '/') return std::string(path);
  std::string joined(base);
  for (absl::string_view part : absl::StrSplit(AsAbsl(path), '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (joined.empty() || joined.back() != '/') joined += '/';
    absl::StrAppend(&joined, part);
  }
  if (path.back() == '/' && joined.back() != '/') joined += '/';
  return joined;
}

absl::StatusOr<std::string> AbsolutePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return std::string(path);
  std::error_code error;
  std::filesystem::path current = std::filesystem::current_path(error);
  if (error) {
    return ErrnoError(error.value(), "read the current directory to resolve", path);
  }
  return AbsolutePathFrom(current.string(), path);
}

absl::StatusOr<std::string> AbsoluteParentDirectory(std::string_view file) {
  std::string parent = std::filesystem::path(file).parent_path().string();
  return AbsolutePath(parent.empty() ? "." : parent);
}

}  // namespace fnhost
