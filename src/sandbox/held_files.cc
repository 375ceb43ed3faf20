#include "src/sandbox/held_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "src/sandbox/files.h"

namespace fnhost::sandbox {

int ChooseDescriptorFloor() {
  // Room below the floor for what the zygote opens later (a worker's channel, its denial page)
  // and, above it, for the held files of many workers' cgroups.
  constexpr int kLowRoom = 32;
  constexpr int kHeldRoom = 512;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int highest = 2;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') highest = std::max(highest, std::atoi(entry->d_name));
  }
  ::closedir(dir);
  // Low, since fork copies a descriptor table as long as its highest descriptor: one near
  // 10000 cost each fork and exit about 30 us more on a 2-core VM.
  const int floor = highest + 1 + kLowRoom;
  const bool room = limit.rlim_cur == RLIM_INFINITY ||
                    limit.rlim_cur >= static_cast<rlim_t>(floor + kHeldRoom);
  return room ? floor : 0;
}

void HeldFiles::Hold(const std::string& path, int flags, int floor) {
  if (floor <= 0 || Find(path) >= 0) return;
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, floor);
  ::close(fd);
  if (moved >= 0) files_.push_back(File{path, moved});
}

absl::StatusOr<std::string> HeldFiles::Read(const std::string& path) const {
  const int index = Find(path);
  return index >= 0 ? ReadFromDescriptor(files_[index].fd, path) : ReadControlFile(path);
}

absl::Status HeldFiles::Write(const std::string& path, std::string_view text) const {
  const int index = Find(path);
  return index >= 0 ? WriteToDescriptor(files_[index].fd, text, path)
                    : WriteControlFile(path, text);
}

int HeldFiles::Duplicate(const std::string& path, int flags) const {
  const int index = Find(path);
  return index >= 0 ? ::fcntl(files_[index].fd, F_DUPFD_CLOEXEC, 0)
                    : ::open(path.c_str(), flags | O_CLOEXEC);
}

void HeldFiles::Close() {
  for (const File& file : files_) ::close(file.fd);
  files_.clear();
}

int HeldFiles::Find(const std::string& path) const {
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i].path == path) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace fnhost::sandbox
