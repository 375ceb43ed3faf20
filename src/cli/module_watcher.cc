#include "src/cli/module_watcher.h"

namespace fnhost::cli {

ModuleWatcher::Seen ModuleWatcher::Look(const std::string& path) {
  Seen seen;
  seen.path = path;
  absl::StatusOr<struct stat> st = fs_->Stat(path);
  if (!st.ok()) return seen;
  seen.device = st->st_dev;
  seen.inode = st->st_ino;
  seen.size = st->st_size;
  seen.mtime = st->st_mtim;
  seen.present = true;
  return seen;
}

void ModuleWatcher::Watch(const std::string& function, const std::string& path) {
  watched_[function] = Look(path);
}

std::vector<ModuleWatcher::Change> ModuleWatcher::Poll() {
  std::vector<Change> changes;
  for (auto& [function, before] : watched_) {
    Seen now = Look(before.path);
    if (!now.present) continue;  // keep `before`: compare again once the file is back
    bool changed = !before.present || now.device != before.device ||
                   now.inode != before.inode || now.size != before.size ||
                   now.mtime.tv_sec != before.mtime.tv_sec ||
                   now.mtime.tv_nsec != before.mtime.tv_nsec;
    if (changed) changes.push_back(Change{function, before.path});
    before = now;
  }
  return changes;
}

}  // namespace fnhost::cli
