// Control files held open from one worker to the next. Opening a cgroup control file costs the
// kernel a path walk and an allocation, about 10 us on a VM, and the zygote opened nine at each
// spawn and reap of a worker (memory and pids limits on cgroup v1). A cgroup kept for the next
// worker keeps six files open, which leaves two of those opens: each cgroup.procs is read
// through a fresh one, since v1 caches its listing per open file.
//
// A forked worker inherits every descriptor of its zygote, and must not keep these (cgroup.procs
// moves processes between cgroups). So they sit at or above a floor, picked once a little above
// every descriptor the process had (the module's init ones and the Landlock rules' among them):
// the worker closes them all with one close_range before module code runs. Where no floor fits
// under RLIMIT_NOFILE, nothing is held and each read or write opens its file.
//
// Thread-safety: none; HeldFiles belong to one thread (the zygote's).

#ifndef FNHOST_SRC_SANDBOX_HELD_FILES_H_
#define FNHOST_SRC_SANDBOX_HELD_FILES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost::sandbox {

// A little above this process's highest open descriptor, leaving room for what it opens later;
// 0 (hold nothing) when the soft RLIMIT_NOFILE leaves no room above that for held files.
int ChooseDescriptorFloor();

// Open descriptors on control files, by path. A plain list that copies freely: Close ends them.
class HeldFiles {
 public:
  // Opens `path` (O_RDONLY or O_WRONLY) at or above `floor` and holds it. Does nothing when
  // `floor` is 0 or the open fails: the file is then opened at each use.
  void Hold(const std::string& path, int flags, int floor);

  // The whole file (up to 64 KiB), through its held descriptor or else by opening it.
  absl::StatusOr<std::string> Read(const std::string& path) const;
  // `text` in one write(2), through the held descriptor or else by opening the file.
  absl::Status Write(const std::string& path, std::string_view text) const;
  // A descriptor of its own on `path`: a duplicate of the held one (below the floor), or else
  // the file opened with `flags`; -1 with errno set when neither works.
  int Duplicate(const std::string& path, int flags) const;

  void Close();
  bool empty() const { return files_.empty(); }

 private:
  struct File {
    std::string path;
    int fd = -1;
  };
  int Find(const std::string& path) const;

  std::vector<File> files_;
};

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_HELD_FILES_H_
