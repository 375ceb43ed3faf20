#include "src/common/function_error.h"
#include "src/sandbox/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/common/strings.h"
#include "src/sandbox/files.h"

namespace fnhost::sandbox {
namespace {

constexpr absl::string_view kFunctionPrefix = "fnhost-";
// Released cgroups kept for later workers, per function: enough for workers ending in bursts.
constexpr size_t kMaxKeptCgroups = 4;

struct CgroupMount {
  int version = 0;
  std::string root;        // the mount's root within the hierarchy
  std::string mountpoint;
  std::vector<std::string> controllers;  // v1 only
};

std::vector<CgroupMount> ReadCgroupMounts() {
  std::vector<CgroupMount> mounts;
  absl::StatusOr<std::string> text = ReadControlFile("/proc/self/mountinfo");
  if (!text.ok()) return mounts;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::pair<absl::string_view, absl::string_view> halves = absl::StrSplit(line, " - ");
    std::vector<absl::string_view> before = absl::StrSplit(halves.first, ' ');
    std::vector<absl::string_view> after = absl::StrSplit(halves.second, ' ');
    if (before.size() < 5 || after.size() < 3) continue;
    CgroupMount mount;
    if (after[0] == "cgroup2") {
      mount.version = 2;
    } else if (after[0] == "cgroup") {
      mount.version = 1;
      for (absl::string_view option : absl::StrSplit(after[2], ',')) {
        mount.controllers.emplace_back(option);
      }
    } else {
      continue;
    }
    mount.root = std::string(before[3]);
    mount.mountpoint = std::string(before[4]);
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

// This process's cgroup path in the hierarchy with `controller` (v1), or in the v2 hierarchy
// when `controller` is empty; empty when there is none.
std::string OwnCgroupPath(absl::string_view controller) {
  absl::StatusOr<std::string> text = ReadControlFile("/proc/self/cgroup");
  if (!text.ok()) return "";
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    bool match = controller.empty()
                     ? fields[0] == "0" && fields[1].empty()
                     : absl::c_linear_search(
                           std::vector<absl::string_view>(absl::StrSplit(fields[1], ',')),
                           controller);
    if (match) return std::string(fields[2]);
  }
  return "";
}

std::string DirectoryOf(const CgroupMount& mount, absl::string_view path) {
  if (mount.root != "/") absl::ConsumePrefix(&path, mount.root);
  if (path == "/") path = "";
  return absl::StrCat(mount.mountpoint, path);
}

bool ListContains(absl::string_view list, absl::string_view word) {
  for (absl::string_view item : absl::StrSplit(list, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (item == word) return true;
  }
  return false;
}

// Makes and removes a child of `controller.directory`: the check that this process may create
// cgroups there, and (v2) that the controller reaches children.
void CheckChildCgroup(absl::string_view name, CgroupController* controller) {
  std::string probe = absl::StrCat(controller->directory, "/", kFunctionPrefix, "probe-",
                                   ::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) {
    controller->feature.reason =
        absl::StrCat("cannot create a cgroup beneath ", controller->directory, ": ",
                     std::strerror(errno));
    return;
  }
  controller->feature.usable = true;
  if (controller->version == 2) {
    absl::StatusOr<std::string> enabled = ReadControlFile(probe + "/cgroup.controllers");
    if (!enabled.ok() || !ListContains(*enabled, name)) {
      controller->feature.usable = false;
      controller->feature.reason = absl::StrCat(
          "cgroup v2 ", controller->directory, " does not enable ", name,
          " for its children (cgroup.subtree_control; a cgroup with processes in it cannot)");
    }
  }
  ::rmdir(probe.c_str());
}

// Removes `directory` and its child directories (cgroups hold no files of their own).
void RemoveCgroupTree(const std::string& directory) {
  if (DIR* dir = ::opendir(directory.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') {
        ::rmdir(absl::StrCat(directory, "/", entry->d_name).c_str());
      }
    }
    ::closedir(dir);
  }
  ::rmdir(directory.c_str());
}

// Removes the function directories left by parents that are gone (a zygote killed hard).
void SweepStale(const std::string& parent) {
  DIR* dir = ::opendir(parent.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* entry = ::readdir(dir)) {
    absl::string_view name = entry->d_name;
    if (entry->d_type != DT_DIR || !absl::ConsumePrefix(&name, kFunctionPrefix)) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid) || pid <= 0) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(entry->d_name);
  }
  ::closedir(dir);
  for (const std::string& name : stale) RemoveCgroupTree(absl::StrCat(parent, "/", name));
}

std::string SafeName(absl::string_view function) {
  std::string name;
  for (char c : function.substr(0, 64)) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.';
    name.push_back(plain ? c : '_');
  }
  return name;
}

// The counter `key` in a flat-keyed file ("oom_kill 3\n..."); 0 when absent.
uint64_t KeyedCounter(const HeldFiles& files, const std::string& path, absl::string_view key) {
  absl::StatusOr<std::string> text = files.Read(path);
  if (!text.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    uint64_t value = 0;
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, " ") &&
        absl::SimpleAtoi(line, &value)) {
      return value;
    }
  }
  return 0;
}

uint64_t NumberIn(const HeldFiles& files, const std::string& path) {
  absl::StatusOr<std::string> text = files.Read(path);
  uint64_t value = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) return value;
  return 0;
}

// Writes an optional control file: one the kernel does not have here is skipped.
absl::Status WriteIfPresent(const std::string& path, absl::string_view text) {
  absl::Status status = WriteControlFile(path, AsStd(text));
  return absl::IsNotFound(status) ? absl::OkStatus() : status;
}

}  // namespace

CgroupController FindDelegatableController(std::string_view controller_name) {
  absl::string_view controller = AsAbsl(controller_name);
  CgroupController found;
  std::vector<CgroupMount> mounts = ReadCgroupMounts();
  for (const CgroupMount& mount : mounts) {
    if (mount.version != 2) continue;
    std::string directory = DirectoryOf(mount, OwnCgroupPath(""));
    absl::StatusOr<std::string> available = ReadControlFile(directory + "/cgroup.controllers");
    if (available.ok() && ListContains(*available, controller)) {
      found.version = 2;
      found.directory = directory;
    }
  }
  for (const CgroupMount& mount : mounts) {
    if (found.version != 0 || mount.version != 1 ||
        !absl::c_linear_search(mount.controllers, controller)) {
      continue;
    }
    found.version = 1;
    found.directory = DirectoryOf(mount, OwnCgroupPath(controller));
  }
  if (found.version == 0) {
    found.feature.reason = absl::StrCat("no cgroup hierarchy with the ", controller,
                                        " controller is mounted for this process");
    return found;
  }
  CheckChildCgroup(controller, &found);
  return found;
}

void CgroupTicket::CloseDescriptors() {
  for (int fd : procs_fds) ::close(fd);
  procs_fds.clear();
}

absl::StatusOr<std::unique_ptr<WorkerCgroups>> WorkerCgroups::Create(
    std::string_view function, const CgroupLimits& limits, const SandboxSupport& support) {
  std::unique_ptr<WorkerCgroups> cgroups(new WorkerCgroups());
  cgroups->function_ = std::string(function);
  cgroups->limits_ = limits;
  cgroups->descriptor_floor_ = ChooseDescriptorFloor();
  std::string name = absl::StrCat(kFunctionPrefix, ::getpid(), "-", SafeName(AsAbsl(function)));
  auto add = [&](const CgroupController& controller) -> absl::StatusOr<Hierarchy*> {
    std::string directory = absl::StrCat(controller.directory, "/", name);
    for (Hierarchy& hierarchy : cgroups->hierarchies_) {
      if (hierarchy.directory == directory) return &hierarchy;  // v2: one for both
    }
    SweepStale(controller.directory);
    if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir", directory);
    }
    cgroups->hierarchies_.push_back(Hierarchy{controller.version, std::move(directory)});
    return &cgroups->hierarchies_.back();
  };
  cgroups->hierarchies_.reserve(2);  // no reallocation under the pointers above
  if (limits.memory_bytes > 0 && support.memory_cgroup.feature.usable) {
    absl::StatusOr<Hierarchy*> hierarchy = add(support.memory_cgroup);
    if (!hierarchy.ok()) return hierarchy.status();
    (*hierarchy)->memory = true;
  }
  if (limits.pids > 0 && support.pids_cgroup.feature.usable) {
    absl::StatusOr<Hierarchy*> hierarchy = add(support.pids_cgroup);
    if (!hierarchy.ok()) return hierarchy.status();
    (*hierarchy)->pids = true;
  }
  return cgroups;
}

WorkerCgroups::~WorkerCgroups() {
  for (CgroupTicket& kept : kept_) kept.held.Close();
  for (const Hierarchy& hierarchy : hierarchies_) RemoveCgroupTree(hierarchy.directory);
}

bool WorkerCgroups::limits_memory() const {
  return absl::c_any_of(hierarchies_, [](const Hierarchy& h) { return h.memory; });
}

bool WorkerCgroups::limits_pids() const {
  return absl::c_any_of(hierarchies_, [](const Hierarchy& h) { return h.pids; });
}

absl::Status WorkerCgroups::WriteLimits(const Hierarchy& hierarchy,
                                        const std::string& directory) const {
  absl::Status status;
  if (hierarchy.pids) {
    status = WriteControlFile(directory + "/pids.max", absl::StrCat(limits_.pids));
  }
  if (!status.ok() || !hierarchy.memory) return status;
  std::string bytes = absl::StrCat(limits_.memory_bytes);
  if (hierarchy.version == 1) {
    status = WriteControlFile(directory + "/memory.limit_in_bytes", bytes);
    // With swap accounting, memory plus swap gets the same bound: no spilling to swap.
    if (status.ok()) status = WriteIfPresent(directory + "/memory.memsw.limit_in_bytes", bytes);
    return status;
  }
  status = WriteControlFile(directory + "/memory.max", bytes);
  if (status.ok()) status = WriteIfPresent(directory + "/memory.swap.max", "0");
  return status;
}

absl::StatusOr<CgroupTicket> WorkerCgroups::PrepareWorker() {
  while (!kept_.empty()) {
    CgroupTicket kept = std::move(kept_.back());
    kept_.pop_back();
    if (Reopen(kept).ok()) return kept;
    Remove(kept);
  }
  CgroupTicket ticket;
  ticket.limits_memory = limits_memory();
  ticket.limits_pids = limits_pids();
  std::string name = absl::StrCat("w", next_worker_++);
  for (const Hierarchy& hierarchy : hierarchies_) {
    std::string directory = absl::StrCat(hierarchy.directory, "/", name);
    absl::Status status = ::mkdir(directory.c_str(), 0755) == 0
                              ? WriteLimits(hierarchy, directory)
                              : ErrnoStatus(errno, "mkdir", directory);
    int fd = -1;
    if (status.ok()) {
      HoldFiles(hierarchy, directory, &ticket.held);
      fd = ticket.held.Duplicate(directory + "/cgroup.procs", O_WRONLY);
      if (fd < 0) status = ErrnoStatus(errno, "open", directory + "/cgroup.procs");
    }
    if (!status.ok()) {
      ::rmdir(directory.c_str());
      ticket.CloseDescriptors();
      Remove(ticket);
      return absl::Status(status.code(),
                          FunctionMessage(function_, "worker cgroup: ", status.message()));
    }
    ticket.directories.push_back(std::move(directory));
    ticket.procs_fds.push_back(fd);
  }
  return ticket;
}

CgroupExit WorkerCgroups::Release(CgroupTicket& ticket) {
  ticket.CloseDescriptors();
  CgroupExit exit;
  uint64_t oom_kills = 0;
  uint64_t forks_refused = 0;
  for (size_t i = 0; i < ticket.directories.size() && i < hierarchies_.size(); ++i) {
    const Hierarchy& hierarchy = hierarchies_[i];
    const std::string& directory = ticket.directories[i];
    if (hierarchy.memory) {
      bool v1 = hierarchy.version == 1;
      oom_kills = KeyedCounter(
          ticket.held, directory + (v1 ? "/memory.oom_control" : "/memory.events"), "oom_kill");
      exit.peak_memory_bytes = NumberIn(
          ticket.held, directory + (v1 ? "/memory.max_usage_in_bytes" : "/memory.peak"));
    }
    if (hierarchy.pids) {
      forks_refused = KeyedCounter(ticket.held, directory + "/pids.events", "max");
    }
  }
  exit.oom_killed = oom_kills > ticket.oom_kills_before;
  exit.forks_refused = forks_refused - std::min(forks_refused, ticket.forks_refused_before);
  if (kept_.size() < kMaxKeptCgroups && Reusable(ticket)) {
    ticket.oom_kills_before = oom_kills;
    ticket.forks_refused_before = forks_refused;
    kept_.push_back(ticket);
    ticket.held = HeldFiles();  // the kept copy has them now
  } else {
    Remove(ticket);
  }
  ticket.directories.clear();
  return exit;
}

bool WorkerCgroups::Keepable() const {
  return absl::c_none_of(hierarchies_,
                         [](const Hierarchy& h) { return h.memory && h.version != 1; });
}

bool WorkerCgroups::Reusable(const CgroupTicket& ticket) const {
  if (!Keepable() || ticket.directories.size() != hierarchies_.size()) return false;
  for (size_t i = 0; i < hierarchies_.size(); ++i) {
    const Hierarchy& hierarchy = hierarchies_[i];
    const std::string& directory = ticket.directories[i];
    // Opened afresh: v1 caches a cgroup.procs listing per open file for a second.
    absl::StatusOr<std::string> procs = ReadControlFile(directory + "/cgroup.procs");
    if (!procs.ok() || !absl::StripAsciiWhitespace(*procs).empty()) return false;
    if (hierarchy.memory &&
        NumberIn(ticket.held, directory + "/memory.usage_in_bytes") > limits_.memory_bytes / 16) {
      return false;
    }
  }
  return true;
}

absl::Status WorkerCgroups::Reopen(CgroupTicket& ticket) const {
  for (size_t i = 0; i < ticket.directories.size() && i < hierarchies_.size(); ++i) {
    const std::string& directory = ticket.directories[i];
    // v1 (Keepable: no v2 memory cgroup is kept): the next worker's peak starts from its own.
    absl::Status status =
        hierarchies_[i].memory
            ? ticket.held.Write(directory + "/memory.max_usage_in_bytes", "0")
            : absl::OkStatus();
    int fd = status.ok() ? ticket.held.Duplicate(directory + "/cgroup.procs", O_WRONLY) : -1;
    if (status.ok() && fd < 0) status = ErrnoStatus(errno, "open", directory + "/cgroup.procs");
    if (!status.ok()) {
      ticket.CloseDescriptors();
      return status;
    }
    ticket.procs_fds.push_back(fd);
  }
  return absl::OkStatus();
}

void WorkerCgroups::Remove(CgroupTicket& ticket) const {
  ticket.held.Close();
  // Busy while a process of the worker is still unreaped: the destructor tries again.
  for (const std::string& directory : ticket.directories) ::rmdir(directory.c_str());
  ticket.directories.clear();
}

void WorkerCgroups::HoldFiles(const Hierarchy& hierarchy, const std::string& directory,
                              HeldFiles* held) const {
  if (!Keepable()) return;
  held->Hold(directory + "/cgroup.procs", O_WRONLY, descriptor_floor_);
  if (hierarchy.memory) {
    held->Hold(directory + "/memory.oom_control", O_RDONLY, descriptor_floor_);
    held->Hold(directory + "/memory.max_usage_in_bytes", O_RDWR, descriptor_floor_);
    held->Hold(directory + "/memory.usage_in_bytes", O_RDONLY, descriptor_floor_);
  }
  if (hierarchy.pids) held->Hold(directory + "/pids.events", O_RDONLY, descriptor_floor_);
}

absl::Status WorkerCgroups::ReturnToParentCgroups() {
  for (const Hierarchy& hierarchy : hierarchies_) {
    const std::string parent = hierarchy.directory.substr(0, hierarchy.directory.rfind('/'));
    if (absl::Status status = WriteControlFile(parent + "/cgroup.procs", "0"); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status JoinCgroups(CgroupTicket& ticket) {
  absl::Status status;
  for (size_t i = 0; i < ticket.procs_fds.size() && status.ok(); ++i) {
    // "0" is the writing process itself, in v1 and v2.
    status = WriteToDescriptor(ticket.procs_fds[i], "0",
                               absl::StrCat(ticket.directories[i], "/cgroup.procs"));
  }
  ticket.CloseDescriptors();
  return status;
}

}  // namespace fnhost::sandbox
