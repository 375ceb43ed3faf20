#include "src/isolation/sandbox_config.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/function_error.h"
#include "src/common/paths.h"

namespace fnhost::internal {
namespace {

using Level = SandboxOptions::Level;

// One line on stderr, once per process, naming what the kernel lacks for the sandbox: a layer
// that rests on it falls back in the workers, which then report what is in force.
void LogProbeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    const sandbox::SandboxSupport& support = sandbox::ProbeSandbox();
    const std::pair<const char*, const sandbox::Feature*> features[] = {
        {"seccomp-bpf", &support.seccomp},
        {"Landlock", &support.landlock},
        {"network namespaces", &support.network_namespace},
        {"memory cgroup", &support.memory_cgroup.feature},
        {"pids cgroup", &support.pids_cgroup.feature},
        {"RLIMIT_NPROC", &support.rlimit_nproc},
        {"process CPU clocks", &support.process_cpu_clock},
    };
    std::vector<std::string> missing;
    for (const auto& [name, feature] : features) {
      if (!feature->usable) missing.push_back(absl::StrCat(name, " (", feature->reason, ")"));
    }
    if (missing.empty()) {
      std::fprintf(stderr, "fnhost: sandbox: every kernel feature is available (Landlock ABI %d)\n",
                   support.landlock_abi);
      return;
    }
    std::fprintf(stderr,
                 "fnhost: sandbox: this kernel or process lacks %s; workers fall back where a "
                 "layer needs it and report it (fnhost inspect --sandbox shows what is in force)\n",
                 absl::StrJoin(missing, ", ").c_str());
  });
}

absl::Status MakeAbsolute(std::string_view function, std::vector<std::string>& paths) {
  for (std::string& path : paths) {
    absl::StatusOr<std::string> absolute = AbsolutePath(path);
    if (!absolute.ok()) return PrefixFunction(function, absolute.status());
    path = *std::move(absolute);
  }
  return absl::OkStatus();
}

zygote::SandboxFeature FeatureProto(const sandbox::Feature& feature) {
  zygote::SandboxFeature proto;
  proto.set_usable(feature.usable);
  proto.set_reason(feature.reason);
  return proto;
}

sandbox::Feature FeatureOf(const zygote::SandboxFeature& proto) {
  return sandbox::Feature{proto.usable(), proto.reason()};
}

zygote::SandboxCgroup CgroupProto(const sandbox::CgroupController& controller) {
  zygote::SandboxCgroup proto;
  *proto.mutable_feature() = FeatureProto(controller.feature);
  proto.set_version(controller.version);
  proto.set_directory(controller.directory);
  return proto;
}

sandbox::CgroupController CgroupOf(const zygote::SandboxCgroup& proto) {
  return sandbox::CgroupController{FeatureOf(proto.feature()), proto.version(),
                                   proto.directory()};
}

zygote::SandboxSupport SupportProto(const sandbox::SandboxSupport& support) {
  zygote::SandboxSupport proto;
  *proto.mutable_seccomp() = FeatureProto(support.seccomp);
  *proto.mutable_seccomp_user_notif() = FeatureProto(support.seccomp_user_notif);
  *proto.mutable_landlock() = FeatureProto(support.landlock);
  proto.set_landlock_abi(support.landlock_abi);
  *proto.mutable_network_namespace() = FeatureProto(support.network_namespace);
  proto.set_network_namespace_needs_user_namespace(support.network_namespace_needs_user_namespace);
  *proto.mutable_memory_cgroup() = CgroupProto(support.memory_cgroup);
  *proto.mutable_pids_cgroup() = CgroupProto(support.pids_cgroup);
  *proto.mutable_rlimit_nproc() = FeatureProto(support.rlimit_nproc);
  *proto.mutable_process_cpu_clock() = FeatureProto(support.process_cpu_clock);
  return proto;
}

const char* NetworkName(sandbox::NetworkIsolation network) {
  switch (network) {
    case sandbox::NetworkIsolation::kNamespace: return "namespace";
    case sandbox::NetworkIsolation::kUserAndNetworkNamespace: return "user_and_network_namespace";
    case sandbox::NetworkIsolation::kShared: break;
  }
  return "none";
}

const char* FilesName(sandbox::FileRules files) {
  switch (files) {
    case sandbox::FileRules::kLandlock: return "landlock";
    case sandbox::FileRules::kSeccompNoOpen: return "seccomp_no_open";
    case sandbox::FileRules::kUnrestricted: break;
  }
  return "none";
}

const char* SyscallsName(sandbox::SyscallFilter syscalls) {
  switch (syscalls) {
    case sandbox::SyscallFilter::kAllowList: return "allow_list";
    case sandbox::SyscallFilter::kDenyList: return "deny_list";
    case sandbox::SyscallFilter::kNone: break;
  }
  return "none";
}

}  // namespace

bool HasSandbox(const SandboxOptions& options) {
  return options.level != SandboxOptions::Level::kOff ||
         options.cpu_time_limit > absl::ZeroDuration();
}

absl::Status ResolveSandbox(FunctionSpec* spec) {
  SandboxOptions& options = spec->sandbox;
  if (!HasSandbox(options)) return absl::OkStatus();
  auto invalid = [&](std::string_view cause) {
    return absl::InvalidArgumentError(FunctionMessage(spec->name, cause));
  };
  if (spec->isolation.mode != IsolationOptions::Mode::kProcess) {
    return invalid("a sandbox needs process isolation (isolation.mode kProcess): in process, "
                   "module code runs inside the host");
  }
  if (options.memory_limit_bytes > 0 && options.level == SandboxOptions::Level::kOff) {
    return invalid("sandbox.memory_limit_bytes needs sandbox level basic or strict");
  }
  if (options.memory_limit_bytes > 0 && spec->isolation.memory_limit_bytes > 0) {
    return invalid("give the memory limit once: sandbox.memory_limit_bytes (a cgroup, RLIMIT_AS "
                   "where there is none) or isolation.memory_limit_bytes (RLIMIT_AS)");
  }
  if (absl::Status status = MakeAbsolute(spec->name, options.read_paths); !status.ok()) {
    return status;
  }
  if (absl::Status status = MakeAbsolute(spec->name, options.write_paths); !status.ok()) {
    return status;
  }
  absl::StatusOr<sandbox::ValidatedPolicy> validated =
      sandbox::ValidateSandboxPolicy(spec->name, options);
  if (!validated.ok()) return validated.status();
  LogProbeOnce();
  return absl::OkStatus();
}

std::optional<zygote::SandboxConfig> ZygoteSandboxConfig(const SandboxOptions& options) {
  if (options.level == SandboxOptions::Level::kOff) return std::nullopt;
  zygote::SandboxConfig config;
  config.set_level(static_cast<uint32_t>(options.level));
  config.set_on_denial(static_cast<uint32_t>(options.on_denial));
  for (const std::string& name : options.allow_syscalls) config.add_allow_syscalls(name);
  for (const std::string& path : options.read_paths) config.add_read_paths(path);
  for (const std::string& path : options.write_paths) config.add_write_paths(path);
  config.set_allow_network(options.allow_network);
  config.set_count_refused_opens(options.count_refused_opens);
  config.set_memory_limit_bytes(options.memory_limit_bytes);
  config.set_pids_limit(options.pids_limit);
  *config.mutable_support() = SupportProto(sandbox::ProbeSandbox());
  return config;
}

SandboxOptions OptionsOf(const zygote::SandboxConfig& config) {
  SandboxOptions policy;
  policy.level = config.level() <= static_cast<uint32_t>(Level::kStrict)
                     ? static_cast<Level>(config.level())
                     : Level::kStrict;
  policy.on_denial = config.on_denial() == static_cast<uint32_t>(SandboxOptions::OnDenial::kKill)
                         ? SandboxOptions::OnDenial::kKill
                         : SandboxOptions::OnDenial::kErrno;
  policy.allow_syscalls.assign(config.allow_syscalls().begin(), config.allow_syscalls().end());
  policy.read_paths.assign(config.read_paths().begin(), config.read_paths().end());
  policy.write_paths.assign(config.write_paths().begin(), config.write_paths().end());
  policy.allow_network = config.allow_network();
  if (config.has_count_refused_opens()) policy.count_refused_opens = config.count_refused_opens();
  policy.memory_limit_bytes = config.memory_limit_bytes();
  policy.pids_limit = config.pids_limit();
  return policy;
}

sandbox::SandboxSupport SupportOf(const zygote::SandboxSupport& proto) {
  sandbox::SandboxSupport support;
  support.seccomp = FeatureOf(proto.seccomp());
  support.seccomp_user_notif = FeatureOf(proto.seccomp_user_notif());
  support.landlock = FeatureOf(proto.landlock());
  support.landlock_abi = proto.landlock_abi();
  support.network_namespace = FeatureOf(proto.network_namespace());
  support.network_namespace_needs_user_namespace = proto.network_namespace_needs_user_namespace();
  support.memory_cgroup = CgroupOf(proto.memory_cgroup());
  support.pids_cgroup = CgroupOf(proto.pids_cgroup());
  support.rlimit_nproc = FeatureOf(proto.rlimit_nproc());
  support.process_cpu_clock = FeatureOf(proto.process_cpu_clock());
  return support;
}

zygote::SandboxInForce InForceOf(const sandbox::SandboxReport& report,
                                 uint64_t memory_limit_bytes) {
  using sandbox::MemoryLimit;
  using sandbox::PidsLimit;
  zygote::SandboxInForce in_force;
  in_force.set_level(std::string(sandbox::LevelName(report.level)));
  in_force.set_network(NetworkName(report.network));
  in_force.set_memory(report.memory == MemoryLimit::kCgroup         ? "cgroup"
                      : report.memory == MemoryLimit::kAddressSpace ? "rlimit_as"
                                                                    : "none");
  in_force.set_pids(report.pids == PidsLimit::kCgroup         ? "cgroup"
                    : report.pids == PidsLimit::kRlimitNproc ? "rlimit_nproc"
                                                             : "none");
  in_force.set_files(FilesName(report.files));
  in_force.set_tcp(report.tcp_denied_by_landlock ? "landlock" : "none");
  in_force.set_syscalls(SyscallsName(report.syscalls));
  in_force.set_capabilities(report.capabilities_dropped ? "dropped" : "none");
  in_force.set_summary(report.Summary());
  for (const std::string& line : report.fallbacks) in_force.add_fallback(line);
  in_force.set_memory_limit_bytes(report.memory == MemoryLimit::kNone ? 0 : memory_limit_bytes);
  return in_force;
}

std::vector<SandboxLayerInForce> LayersOf(const zygote::SandboxInForce& in_force,
                                          std::string_view cpu_time) {
  return {{"level", in_force.level()},         {"network", in_force.network()},
          {"memory", in_force.memory()},       {"pids", in_force.pids()},
          {"files", in_force.files()},         {"tcp", in_force.tcp()},
          {"syscalls", in_force.syscalls()},   {"capabilities", in_force.capabilities()},
          {"cpu_time", cpu_time}};
}

}  // namespace fnhost::internal
