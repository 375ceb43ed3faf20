// ApplyInWorker: the layers of a worker's sandbox, in order (see sandbox.h).

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/strings.h"
#include "src/sandbox/landlock.h"
#include "src/sandbox/process_limits.h"
#include "src/sandbox/sandbox.h"
#include "src/sandbox/seccomp_profile.h"

namespace fnhost::sandbox {
namespace {

class Applier {
 public:
  Applier(const ValidatedPolicy& validated, const SandboxContext& where,
          const SandboxSupport& support, SandboxReport* report)
      : policy_(validated.policy),
        allow_numbers_(validated.allow_syscall_numbers),
        where_(where),
        support_(support),
        report_(report) {}

  absl::Status Run() {
    absl::Status status = JoinCgroups();
    if (status.ok() && !policy_.allow_network) status = Network();
    if (status.ok()) status = Rlimits();
    if (status.ok()) status = Layer("capabilities", DropCapabilities());
    if (status.ok()) report_->capabilities_dropped = true;
    if (status.ok()) status = Files();
    if (status.ok()) status = Syscalls();
    return status;
  }

 private:
  absl::Status Layer(std::string_view layer, const absl::Status& status) const {
    if (status.ok()) return status;
    return absl::Status(status.code(), absl::StrCat("function '", where_.function_name,
                                                    "': sandbox ", AsAbsl(layer), ": ",
                                                    status.message()));
  }
  void Fallback(std::string line) { report_->fallbacks.push_back(std::move(line)); }

  absl::Status JoinCgroups() {
    if (where_.cgroups == nullptr) return absl::OkStatus();
    if (absl::Status status = sandbox::JoinCgroups(*where_.cgroups); !status.ok()) {
      return Layer("cgroups", status);
    }
    if (where_.cgroups->limits_memory) report_->memory = MemoryLimit::kCgroup;
    if (where_.cgroups->limits_pids) report_->pids = PidsLimit::kCgroup;
    return absl::OkStatus();
  }

  absl::Status Network() {
    if (!support_.network_namespace.usable) {
      Fallback(absl::StrCat("network: no network namespace (", support_.network_namespace.reason,
                            "); only seccomp and Landlock keep the worker off the network"));
      return absl::OkStatus();
    }
    bool with_user = support_.network_namespace_needs_user_namespace;
    absl::Status status = EnterPrivateNetwork(with_user);
    if (status.ok()) {
      report_->network = with_user ? NetworkIsolation::kUserAndNetworkNamespace
                                   : NetworkIsolation::kNamespace;
    }
    return Layer("network namespace", status);
  }

  // Why no cgroup limits `what`: the kernel's reason, or the parent's choice.
  static std::string NoCgroup(const CgroupController& controller) {
    return controller.feature.usable ? "the worker was given none"
                                     : controller.feature.reason;
  }

  absl::Status Rlimits() {
    absl::Status status = SetHardLimit(RLIMIT_CORE, 0, "RLIMIT_CORE");
    if (status.ok() && policy_.memory_limit_bytes > 0 && report_->memory != MemoryLimit::kCgroup) {
      status = SetHardLimit(RLIMIT_AS, AddressSpaceBytes() + policy_.memory_limit_bytes,
                            "RLIMIT_AS");
      report_->memory = MemoryLimit::kAddressSpace;
      Fallback(absl::StrCat("memory: no memory cgroup (", NoCgroup(support_.memory_cgroup),
                            "); RLIMIT_AS (address space beyond the worker's start) in force"));
    }
    if (status.ok() && policy_.pids_limit > 0 && report_->pids != PidsLimit::kCgroup) {
      std::string why = absl::StrCat("pids: no pids cgroup (", NoCgroup(support_.pids_cgroup));
      if (support_.rlimit_nproc.usable) {
        status = SetHardLimit(RLIMIT_NPROC, policy_.pids_limit, "RLIMIT_NPROC");
        report_->pids = PidsLimit::kRlimitNproc;
        Fallback(absl::StrCat(why, "); RLIMIT_NPROC in force"));
      } else {
        Fallback(absl::StrCat(why, ") and ", support_.rlimit_nproc.reason,
                              "; no process limit beyond seccomp's"));
      }
    }
    return Layer("rlimits", status);
  }

  std::vector<std::string> StrictReadPaths() const {
    std::vector<std::string> paths;
    if (!where_.module_path.empty()) paths.push_back(where_.module_path);
    paths.insert(paths.end(), where_.dependency_dirs.begin(), where_.dependency_dirs.end());
    for (const std::string& path : where_.runtime_paths) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) paths.push_back(path);  // those this system has
    }
    paths.insert(paths.end(), policy_.read_paths.begin(), policy_.read_paths.end());
    return paths;
  }

  absl::Status Files() {
    const bool strict = policy_.level == SandboxLevel::kStrict;
    if (!support_.landlock.usable) {
      report_->files = strict ? FileRules::kSeccompNoOpen : FileRules::kUnrestricted;
      Fallback(absl::StrCat("files: no Landlock (", support_.landlock.reason, "); ",
                            strict ? "seccomp denies every open (read_paths and write_paths "
                                     "cannot be used)"
                                   : "writes are not restricted"));
      return absl::OkStatus();
    }
    LandlockRules rules;
    rules.restrict_reads = strict;
    if (strict) rules.read_paths = StrictReadPaths();
    rules.write_paths = policy_.write_paths;
    rules.deny_tcp = !policy_.allow_network;
    absl::StatusOr<LandlockResult> result = RestrictSelf(rules);
    if (!result.ok()) return Layer("Landlock", result.status());
    report_->files = FileRules::kLandlock;
    report_->landlock_abi = result->abi;
    report_->tcp_denied_by_landlock = result->tcp_denied;
    report_->signals_scoped = result->scoped;
    return absl::OkStatus();
  }

  absl::Status Syscalls() {
    if (!support_.seccomp.usable) {
      Fallback(absl::StrCat("syscalls: no seccomp (", support_.seccomp.reason,
                            "); system calls are not filtered"));
      return absl::OkStatus();
    }
    if (where_.denials == nullptr) Fallback("syscalls: no denial counter page; not counted");
    absl::Status status = InstallDenialHandler(where_.denials, policy_.on_denial);
    SeccompProfile profile;
    profile.level = policy_.level;
    profile.allow_syscalls = allow_numbers_;
    profile.allow_network = policy_.allow_network;
    profile.deny_open = report_->files == FileRules::kSeccompNoOpen;
    profile.self = ::getpid();
    if (status.ok()) status = InstallSeccompProfile(profile);
    if (status.ok()) {
      report_->syscalls = policy_.level == SandboxLevel::kStrict ? SyscallFilter::kAllowList
                                                                 : SyscallFilter::kDenyList;
    }
    return Layer("seccomp", status);
  }

  const SandboxPolicy& policy_;
  const std::vector<int>& allow_numbers_;
  const SandboxContext& where_;
  const SandboxSupport& support_;
  SandboxReport* report_;
};

std::string_view Describe(NetworkIsolation network) {
  switch (network) {
    case NetworkIsolation::kShared:
      return "host network";
    case NetworkIsolation::kNamespace:
      return "network namespace";
    case NetworkIsolation::kUserAndNetworkNamespace:
      return "user and network namespace";
  }
  return "?";
}

}  // namespace

std::vector<std::string> SandboxContext::DefaultRuntimeReadPaths() {
  return {"/lib",         "/lib64",         "/lib32",          "/usr/lib",
          "/usr/lib64",   "/usr/lib32",     "/usr/local/lib",  "/etc/ld.so.cache",
          "/etc/ld.so.preload", "/etc/localtime", "/usr/share/zoneinfo", "/proc/self",
          "/sys/devices/system/cpu", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"};
}

std::string SandboxReport::Summary() const {
  if (level == SandboxLevel::kOff) return "off";
  std::vector<std::string> parts = {std::string(Describe(network))};
  parts.push_back(memory == MemoryLimit::kCgroup         ? "memory cgroup"
                  : memory == MemoryLimit::kAddressSpace ? "memory RLIMIT_AS"
                                                         : "no memory limit");
  parts.push_back(pids == PidsLimit::kCgroup         ? "pids cgroup"
                  : pids == PidsLimit::kRlimitNproc ? "pids RLIMIT_NPROC"
                                                    : "no pids limit");
  if (files == FileRules::kLandlock) {
    parts.push_back(absl::StrCat("Landlock ABI ", landlock_abi,
                                 tcp_denied_by_landlock ? " with TCP rules" : "",
                                 signals_scoped ? " and signal scoping" : ""));
  } else {
    parts.push_back(files == FileRules::kSeccompNoOpen ? "no open()" : "files unrestricted");
  }
  parts.push_back(syscalls == SyscallFilter::kAllowList  ? "seccomp allow-list"
                  : syscalls == SyscallFilter::kDenyList ? "seccomp deny-list"
                                                         : "no seccomp");
  if (capabilities_dropped) parts.push_back("no capabilities");
  return absl::StrCat(AsAbsl(LevelName(level)), ": ", absl::StrJoin(parts, ", "));
}

absl::Status ApplyInWorker(const ValidatedPolicy& policy, const SandboxContext& where,
                           SandboxReport* in_force, const SandboxSupport& support) {
  *in_force = SandboxReport();
  in_force->level = policy.policy.level;
  if (policy.policy.level == SandboxLevel::kOff) return absl::OkStatus();
  return Applier(policy, where, support, in_force).Run();
}

}  // namespace fnhost::sandbox
