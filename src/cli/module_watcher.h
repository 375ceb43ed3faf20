// ModuleWatcher: notices when a module file is replaced or rewritten, for `fnhost serve
// --watch` (the edit-compile-reload loop of game servers). It compares (device, inode, size,
// mtime) between polls, so it sees both in-place rewrites and atomic renames.
// Not thread-safe: one thread polls.

#ifndef FNHOST_SRC_CLI_MODULE_WATCHER_H_
#define FNHOST_SRC_CLI_MODULE_WATCHER_H_

#include <map>
#include <string>
#include <vector>

#include "src/common/file_system.h"

namespace fnhost::cli {

class ModuleWatcher {
 public:
  explicit ModuleWatcher(FileSystem* fs) : fs_(fs) {}

  // Starts watching `path` for function `function`, from its current state.
  void Watch(const std::string& function, const std::string& path);

  struct Change {
    std::string function;
    std::string path;
  };
  // Functions whose file changed since the last poll. A file that is missing (mid-rebuild) is
  // not a change: it is reported once it is back.
  std::vector<Change> Poll();

 private:
  struct Seen {
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    struct timespec mtime = {};
    bool present = false;
  };
  Seen Look(const std::string& path);

  FileSystem* fs_;
  std::map<std::string, Seen> watched_;  // by function name
};

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_MODULE_WATCHER_H_
