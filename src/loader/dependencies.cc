#include "src/loader/dependencies.h"

#include <dlfcn.h>
#include <link.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace fnhost {

std::vector<LoadedObject> ListLoadedObjects() {
  std::vector<LoadedObject> objects;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* list = static_cast<std::vector<LoadedObject>*>(data);
        list->push_back({info->dlpi_name != nullptr ? info->dlpi_name : "", info->dlpi_addr});
        return 0;
      },
      &objects);
  return objects;
}

int PinObjectsLoadedSince(const std::vector<LoadedObject>& before, const std::string& module) {
  int pinned = 0;
  for (const LoadedObject& object : ListLoadedObjects()) {
    if (object.name.empty() || object.name == module ||
        std::find(before.begin(), before.end(), object) != before.end()) {
      continue;
    }
    // RTLD_NOLOAD finds the object already mapped; RTLD_NODELETE then marks it for good. The
    // reference this takes is dropped at once: the mark stays.
    void* handle = ::dlopen(object.name.c_str(), RTLD_NOLOAD | RTLD_NODELETE | RTLD_LAZY);
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
