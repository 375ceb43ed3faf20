// ApplyInWorker: the layers of a worker's sandbox, in order (see sandbox.h).

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/function_error.h"
#include "src/common/strings.h"
#include "src/sandbox/landlock.h"
#include "src/sandbox/open_retry.h"
#include "src/sandbox/process_limits.h"
#include "src/sandbox/sandbox.h"
#include "src/sandbox/seccomp_profile.h"

namespace fnhost::sandbox {

// What Prepare made, inherited by every worker the zygote forks.
struct PreparedSandbox::Layers {
  ValidatedPolicy validated;
  std::string function_name;
  SandboxSupport support;
  FileRules files = FileRules::kUnrestricted;
  std::optional<LandlockRuleset> landlock;  // when the kernel has Landlock
  std::optional<SeccompProgram> seccomp;    // when it has seccomp
  std::vector<std::string> fallbacks;       // decided at Prepare
  // Set by EnterInZygote: the workers are born in a private network.
  NetworkIsolation inherited_network = NetworkIsolation::kShared;

  const SandboxPolicy& policy() const { return validated.policy; }
  absl::Status Named(std::string_view layer, const absl::Status& status) const {
    if (status.ok()) return status;
    return absl::Status(status.code(),
                        FunctionMessage(function_name, "sandbox ", layer, ": ", status.message()));
  }
};

namespace {

std::vector<std::string> StrictReadPaths(const SandboxPolicy& policy,
                                         const SandboxContext& context) {
  std::vector<std::string> paths;
  if (!context.module_path.empty()) paths.push_back(context.module_path);
  paths.insert(paths.end(), context.dependency_dirs.begin(), context.dependency_dirs.end());
  for (const std::string& path : context.runtime_paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) paths.push_back(path);  // those this system has
  }
  paths.insert(paths.end(), policy.read_paths.begin(), policy.read_paths.end());
  return paths;
}

// The per-worker steps of ApplyInWorker, in order.
class WorkerApplier {
 public:
  // kPredict fills the report as kApply would where every step succeeds, and changes nothing.
  enum class Mode { kApply, kPredict };

  WorkerApplier(PreparedSandbox::Layers& layers, const WorkerResources& resources,
                SandboxReport* report, Mode mode)
      : layers_(layers),
        policy_(layers.policy()),
        resources_(resources),
        report_(report),
        apply_(mode == Mode::kApply) {}

  absl::Status Run() {
    *report_ = SandboxReport();
    report_->level = policy_.level;
    if (report_->level == SandboxLevel::kOff) return absl::OkStatus();
    report_->fallbacks = layers_.fallbacks;
    absl::Status status = JoinCgroups();
    if (status.ok() && !policy_.allow_network) status = Network();
    if (status.ok()) status = Rlimits();
    if (status.ok()) status = layers_.Named("capabilities", Take(DropCapabilities));
    if (status.ok()) report_->capabilities_dropped = true;
    if (status.ok()) status = Files();
    if (status.ok()) status = Syscalls();
    return status;
  }

 private:
  const SandboxSupport& support() const { return layers_.support; }
  void Fallback(std::string line) { report_->fallbacks.push_back(std::move(line)); }

  absl::Status JoinCgroups() {
    if (resources_.cgroups == nullptr) return absl::OkStatus();
    absl::Status status = Take([this] { return sandbox::JoinCgroups(*resources_.cgroups); });
    if (!status.ok()) {
      return layers_.Named("cgroups", status);
    }
    if (resources_.cgroups->limits_memory) report_->memory = MemoryLimit::kCgroup;
    if (resources_.cgroups->limits_pids) report_->pids = PidsLimit::kCgroup;
    return absl::OkStatus();
  }

  absl::Status Network() {
    if (layers_.inherited_network != NetworkIsolation::kShared) {
      report_->network = layers_.inherited_network;
      return absl::OkStatus();
    }
    if (!support().network_namespace.usable) {
      Fallback(absl::StrCat("network: no network namespace (", support().network_namespace.reason,
                            "); only seccomp and Landlock keep the worker off the network"));
      return absl::OkStatus();
    }
    bool with_user = support().network_namespace_needs_user_namespace;
    absl::Status status = Take([with_user] { return EnterPrivateNetwork(with_user); });
    if (status.ok()) {
      report_->network = with_user ? NetworkIsolation::kUserAndNetworkNamespace
                                   : NetworkIsolation::kNamespace;
      own_user_namespace_ = with_user;
    }
    return layers_.Named("network namespace", status);
  }

  // Why no cgroup limits something: the kernel's reason, or the parent's choice.
  static std::string NoCgroup(const CgroupController& controller) {
    return controller.feature.usable ? "the worker was given none"
                                     : controller.feature.reason;
  }

  absl::Status Rlimits() {
    absl::Status status = HardLimit(RLIMIT_CORE, 0, "RLIMIT_CORE");
    if (status.ok() && policy_.memory_limit_bytes > 0 && report_->memory != MemoryLimit::kCgroup) {
      // Predicting, the zygote's own address space is beside the point.
      const uint64_t start = apply_ ? AddressSpaceBytes() : 0;
      status = HardLimit(RLIMIT_AS, start + policy_.memory_limit_bytes, "RLIMIT_AS");
      report_->memory = MemoryLimit::kAddressSpace;
      Fallback(absl::StrCat("memory: no memory cgroup (", NoCgroup(support().memory_cgroup),
                            "); RLIMIT_AS (address space beyond the worker's start) in force"));
    }
    if (status.ok() && policy_.pids_limit > 0 && report_->pids != PidsLimit::kCgroup) {
      std::string why = absl::StrCat("pids: no pids cgroup (", NoCgroup(support().pids_cgroup));
      if (!support().rlimit_nproc.usable) {
        Fallback(absl::StrCat(why, ") and ", support().rlimit_nproc.reason,
                              "; no process limit beyond seccomp's"));
        return layers_.Named("rlimits", status);
      }
      // RLIMIT_NPROC counts a user's processes in its user namespace: in one of its own, the
      // worker's only.
      if (!own_user_namespace_) status = Take(EnterUserNamespace);
      if (status.ok()) status = HardLimit(RLIMIT_NPROC, policy_.pids_limit, "RLIMIT_NPROC");
      report_->pids = PidsLimit::kRlimitNproc;
      Fallback(absl::StrCat(why, "); RLIMIT_NPROC in force"));
    }
    return layers_.Named("rlimits", status);
  }

  absl::Status HardLimit(int resource, uint64_t limit, const char* name) const {
    return Take([=] { return SetHardLimit(resource, limit, name); });
  }

  // Takes a step; predicting, takes it as done.
  template <typename Step>
  absl::Status Take(Step step) const {
    return apply_ ? step() : absl::OkStatus();
  }

  absl::Status Files() {
    report_->files = layers_.files;
    if (!layers_.landlock.has_value()) return absl::OkStatus();
    if (absl::Status status = Take([this] { return layers_.landlock->RestrictSelf(); });
        !status.ok()) {
      return layers_.Named("Landlock", status);
    }
    report_->landlock_abi = layers_.landlock->result().abi;
    report_->tcp_denied_by_landlock = layers_.landlock->result().tcp_denied;
    report_->signals_scoped = layers_.landlock->result().scoped;
    return absl::OkStatus();
  }

  absl::Status Syscalls() {
    if (!layers_.seccomp.has_value()) return absl::OkStatus();
    if (resources_.denials == nullptr) Fallback("syscalls: no denial counter page; not counted");
    absl::Status status =
        Take([this] { return InstallDenialHandler(resources_.denials, policy_.on_denial); });
    if (status.ok()) status = Take([this] { return layers_.seccomp->Load(::getpid()); });
    if (status.ok()) {
      report_->syscalls = policy_.level == SandboxLevel::kStrict ? SyscallFilter::kAllowList
                                                                 : SyscallFilter::kDenyList;
    }
    return layers_.Named("seccomp", status);
  }

  PreparedSandbox::Layers& layers_;
  const SandboxPolicy& policy_;
  const WorkerResources& resources_;
  SandboxReport* report_;
  const bool apply_;
  bool own_user_namespace_ = false;
};

absl::Status PrepareFiles(const SandboxContext& context, PreparedSandbox::Layers* layers) {
  const bool strict = layers->policy().level == SandboxLevel::kStrict;
  if (!layers->support.landlock.usable) {
    layers->files = strict ? FileRules::kSeccompNoOpen : FileRules::kUnrestricted;
    layers->fallbacks.push_back(absl::StrCat(
        "files: no Landlock (", layers->support.landlock.reason, "); ",
        strict ? "seccomp denies every open (read_paths and write_paths cannot be used)"
               : "writes are not restricted"));
    return absl::OkStatus();
  }
  LandlockRules rules;
  rules.restrict_reads = strict;
  if (strict) rules.read_paths = StrictReadPaths(layers->policy(), context);
  rules.write_paths = layers->policy().write_paths;
  rules.deny_tcp = !layers->policy().allow_network;
  absl::StatusOr<LandlockRuleset> ruleset = LandlockRuleset::Create(rules);
  if (!ruleset.ok()) return layers->Named("Landlock", ruleset.status());
  layers->landlock = *std::move(ruleset);
  layers->files = FileRules::kLandlock;
  return absl::OkStatus();
}

absl::Status PrepareSyscalls(PreparedSandbox::Layers* layers) {
  if (!layers->support.seccomp.usable) {
    layers->fallbacks.push_back(absl::StrCat("syscalls: no seccomp (",
                                             layers->support.seccomp.reason,
                                             "); system calls are not filtered"));
    return absl::OkStatus();
  }
  SeccompProfile profile;
  profile.level = layers->policy().level;
  profile.allow_syscalls = layers->validated.allow_syscall_numbers;
  profile.allow_network = layers->policy().allow_network;
  profile.deny_open = layers->files == FileRules::kSeccompNoOpen;
  profile.deny_writes = layers->policy().write_paths.empty();
  profile.count_file_refusals = layers->policy().count_refused_opens &&
                                layers->files == FileRules::kLandlock && kOpenRetrySupported;
  absl::StatusOr<SeccompProgram> program = SeccompProgram::Compile(profile);
  if (!program.ok()) return layers->Named("seccomp", program.status());
  layers->seccomp = *std::move(program);
  return absl::OkStatus();
}

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
  // /proc/self/exe: the executable's own file, which sanitizers read to symbolize a report.
  return {"/lib",           "/lib64",          "/lib32",       "/usr/lib",
          "/usr/lib64",     "/usr/lib32",      "/usr/local/lib", "/etc/ld.so.cache",
          "/etc/ld.so.preload", "/etc/localtime", "/usr/share/zoneinfo", "/proc/self",
          "/proc/self/exe", "/sys/devices/system/cpu", "/dev/null", "/dev/zero",
          "/dev/urandom",   "/dev/random"};
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

PreparedSandbox::PreparedSandbox(std::unique_ptr<Layers> layers) : layers_(std::move(layers)) {}
PreparedSandbox::~PreparedSandbox() = default;

absl::StatusOr<std::unique_ptr<PreparedSandbox>> PreparedSandbox::Prepare(
    const ValidatedPolicy& policy, const SandboxContext& context,
    const SandboxSupport& support) {
  auto layers = std::make_unique<Layers>();
  layers->validated = policy;
  layers->function_name = context.function_name;
  layers->support = support;
  if (policy.policy.level != SandboxLevel::kOff) {
    if (absl::Status status = PrepareFiles(context, layers.get()); !status.ok()) return status;
    if (absl::Status status = PrepareSyscalls(layers.get()); !status.ok()) return status;
  }
  return std::unique_ptr<PreparedSandbox>(new PreparedSandbox(std::move(layers)));
}

absl::Status PreparedSandbox::EnterInZygote() {
  const SandboxPolicy& policy = layers_->policy();
  if (policy.level == SandboxLevel::kOff) return absl::OkStatus();
  DropBoundingSet();
  if (policy.allow_network || !layers_->support.network_namespace.usable ||
      layers_->inherited_network != NetworkIsolation::kShared) {
    return absl::OkStatus();  // a worker reports the fallback, if any
  }
  bool with_user = layers_->support.network_namespace_needs_user_namespace;
  absl::Status status = EnterPrivateNetwork(with_user);
  if (!status.ok()) return layers_->Named("network namespace (zygote)", status);
  layers_->inherited_network =
      with_user ? NetworkIsolation::kUserAndNetworkNamespace : NetworkIsolation::kNamespace;
  return absl::OkStatus();
}

absl::Status PreparedSandbox::ApplyInWorker(const WorkerResources& resources,
                                            SandboxReport* in_force) {
  return WorkerApplier(*layers_, resources, in_force, WorkerApplier::Mode::kApply).Run();
}

SandboxReport PreparedSandbox::PredictReport(const WorkerResources& resources) {
  SandboxReport predicted;
  WorkerApplier(*layers_, resources, &predicted, WorkerApplier::Mode::kPredict).Run().IgnoreError();
  return predicted;
}

absl::Status ApplyInWorker(const ValidatedPolicy& policy, const SandboxContext& context,
                           const WorkerResources& resources, SandboxReport* in_force,
                           const SandboxSupport& support) {
  absl::StatusOr<std::unique_ptr<PreparedSandbox>> prepared =
      PreparedSandbox::Prepare(policy, context, support);
  if (!prepared.ok()) return prepared.status();
  return (*prepared)->ApplyInWorker(resources, in_force);
}

}  // namespace fnhost::sandbox
