#include "src/loader/dependencies.h"

#include <dlfcn.h>
#include <link.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace fnhost {

uint64_t LoadedObjectCount() {
  uint64_t count = 0;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        *static_cast<uint64_t*>(data) = info->dlpi_adds;
        return 1;  // the first object says it
      },
      &count);
  return count;
}

int PinObjectsLoadedSince(uint64_t before, const std::string& module) {
  const uint64_t added = LoadedObjectCount() - before;
  if (added <= 1) return 0;  // the module alone
  std::vector<std::string> names;  // in load order: the new ones come last
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        static_cast<std::vector<std::string>*>(data)->push_back(
            info->dlpi_name != nullptr ? info->dlpi_name : "");
        return 0;
      },
      &names);
  int pinned = 0;
  for (size_t i = names.size() - std::min<size_t>(added, names.size()); i < names.size(); ++i) {
    if (names[i].empty() || names[i] == module) continue;
    // RTLD_NOLOAD finds the object already mapped; RTLD_NODELETE then marks it for good. The
    // reference this takes is dropped at once: the mark stays.
    void* handle = ::dlopen(names[i].c_str(), RTLD_NOLOAD | RTLD_NODELETE | RTLD_LAZY);
    if (handle == nullptr) continue;
    ::dlclose(handle);
    ++pinned;
  }
  return pinned;
}

void PreloadOriginDependencies(const std::string& path, const std::string& runpath,
                               const std::vector<std::string>& needed) {
  if (runpath.find("ORIGIN") == std::string::npos) return;
  std::filesystem::path file(path);
  if (file.is_relative()) file = std::filesystem::current_path() / file;
  const std::string origin = file.parent_path().string();
  for (const std::string& name : needed) {
    if (name.find('/') != std::string::npos) continue;
    for (absl::string_view entry : absl::StrSplit(runpath, ':', absl::SkipEmpty())) {
      if (entry.find("ORIGIN") == absl::string_view::npos) continue;
      const std::string directory =
          absl::StrReplaceAll(entry, {{"${ORIGIN}", origin}, {"$ORIGIN", origin}});
      const std::string candidate = directory + "/" + name;
      if (::access(candidate.c_str(), R_OK) != 0) continue;
      // The reference is the module's: it stays with the pin (PinObjectsLoadedSince).
      if (::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) break;
    }
  }
}

}  // namespace fnhost
