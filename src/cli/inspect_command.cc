// `fnhost inspect FILE`: what a module is and what loading it costs, or what a snapshot holds;
// with --isolation=process, also where process isolation forks the module's workers from, and
// with --sandbox=LEVEL (and the other sandbox flags, sandbox_flags.h) what a worker's sandbox
// has in force on this machine.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/cli/sandbox_flags.h"
#include "src/common/paths.h"
#include "src/snapshot/state_snapshots.h"
#include "src/isolation/sandbox_config.h"
#include "src/isolation/zygote_client.h"
#include "src/sandbox/sandbox_support.h"
#include "src/loader/elf_info.h"
#include "src/loader/module_loader.h"
#include "src/snapshot/mapped_snapshot.h"
#include "src/snapshot/snapshot_file.h"

namespace fnhost::cli {
namespace {

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

int InspectModule(const std::string& path) {
  absl::StatusOr<ElfInfo> elf = ReadElfInfo(path);
  if (!elf.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(elf.status().message()).c_str());
    return 1;
  }
  std::printf("file          %s\n", path.c_str());
  std::printf("size          %llu bytes\n", static_cast<unsigned long long>(elf->file_size));
  std::printf("build id      %s\n", elf->build_id.empty() ? "(none)" : elf->build_id.c_str());
  if (!elf->soname.empty()) std::printf("soname        %s\n", elf->soname.c_str());

  // Dependencies first, one by one, so that each one's share of the cold start shows. Those
  // this process has already mapped cost a host like it nothing.
  std::printf("dependencies  (DT_NEEDED; load time in this process)\n");
  for (const std::string& needed : elf->needed) {
    if (void* already = ::dlopen(needed.c_str(), RTLD_NOLOAD | RTLD_LAZY)) {
      ::dlclose(already);
      std::printf("  %-32s already loaded by the host\n", needed.c_str());
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    void* handle = ::dlopen(needed.c_str(), RTLD_NOW | RTLD_LOCAL);
    double ms = MillisSince(start);
    if (handle == nullptr) {
      std::printf("  %-32s NOT FOUND: %s\n", needed.c_str(), ::dlerror());
    } else {
      std::printf("  %-32s %8.3f ms\n", needed.c_str(), ms);
    }
    // Kept open on purpose: the module's own dlopen below should not pay for it again.
  }

  LoadTimings timings;
  absl::StatusOr<std::unique_ptr<LoadedModule>> module = LoadedModule::Load(
      "inspect", path, LoadOptions{}, *Clock::Real(), &timings);
  if (!module.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(module.status().message()).c_str());
    return 1;
  }
  const fnhost_module_v1& table = (*module)->table();
  std::printf("module        %s %s\n", table.name, table.version);
  std::printf("abi version   %u (host %u)\n", table.abi_version, FNHOST_ABI_VERSION);
  std::printf("sdk version   %u\n", table.sdk_version);
  std::printf("snapshots     %s\n", (*module)->supports_snapshots() ? "supported" : "no");
  std::printf("concurrency   %u call(s) per instance\n", table.max_concurrency_per_instance);
  std::printf("load time     file checks %.3f ms, dlopen %.3f ms (module only), abi check %.3f ms\n",
              absl::ToDoubleMilliseconds(timings.file_checks),
              absl::ToDoubleMilliseconds(timings.dlopen),
              absl::ToDoubleMilliseconds(timings.abi_check));
  return 0;
}

// Starts a worker of `zygote` and prints what its sandbox has in force, what falls back, and the
// kernel features the sandbox found. Exit code 1 if the worker cannot start.
int InspectSandbox(Zygote& zygote) {
  absl::StatusOr<std::unique_ptr<Worker>> worker = zygote.SpawnWorker();
  if (!worker.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(worker.status().message()).c_str());
    return 1;
  }
  const zygote::SandboxInForce* in_force = (*worker)->sandbox_in_force();
  std::printf("sandbox       %s\n", in_force != nullptr ? in_force->summary().c_str() : "off");
  if (in_force != nullptr) {
    for (const std::string& line : in_force->fallback()) {
      std::printf("  fallback    %s\n", line.c_str());
    }
  }
  std::printf("kernel        (what the sandbox found on this machine)\n");
  const std::string probe = sandbox::ProbeSandbox().Describe();
  for (absl::string_view line : absl::StrSplit(probe, '\n', absl::SkipEmpty())) {
    std::printf("  %s\n", std::string(line).c_str());
  }
  return 0;
}

// With --isolation=process: starts a zygote for the module, which runs its init (with
// `init_config`), and says where its workers fork from; with a sandbox level, what a worker's
// sandbox has in force. Exit code 1 if the zygote cannot start.
int InspectIsolation(const std::string& path, const std::string& init_config,
                     const SandboxOptions& sandbox) {
  ZygoteOptions options;
  runtime::ModuleConfig& module = *options.config.mutable_module();
  module.set_function_name("inspect");
  module.set_module_path(path);
  module.set_init_config(init_config);
  if (std::optional<zygote::SandboxConfig> config = internal::ZygoteSandboxConfig(sandbox)) {
    *options.config.mutable_sandbox() = *std::move(config);
  }
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  if (!zygote.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(zygote.status().message()).c_str());
    return 1;
  }
  const Zygote::StartReport& report = (*zygote)->start_report();
  const int threads = std::max(0, report.init_threads - 1);
  if (report.fork_point == ForkPoint::kAfterInit) {
    std::printf("isolation     %s: workers fork from the zygote after the init and share its "
                "state (the init leaves no thread running)\n",
                std::string(ForkPointName(report.fork_point)).c_str());
  } else {
    std::printf("isolation     %s: the init leaves %d thread(s) running, so workers fork from "
                "the zygote after loading and each %s\n",
                std::string(ForkPointName(report.fork_point)).c_str(), threads,
                report.workers_run_init
                    ? "runs the init itself (the module has no snapshot support)"
                    : "restores the state from a snapshot of it, built once");
  }
  return sandbox.level == SandboxOptions::Level::kOff ? 0 : InspectSandbox(**zygote);
}

// Whether `path` is meant as a snapshot: it starts with the magic, or is named like one (so that
// a snapshot truncated before its magic is reported as a damaged snapshot, not as a bad ELF).
bool LooksLikeSnapshot(const std::string& path) {
  std::string magic(kSnapshotMagic.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (in.gcount() == static_cast<std::streamsize>(magic.size()) && magic == kSnapshotMagic) {
    return true;
  }
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".snap") == 0;
}

// Prints the header, then checks every section's checksum (reading the whole file). Exit code 1
// if the header or any section is damaged.
int InspectSnapshot(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::OpenForInspection(path, SectionVerification::kTrust);
  if (!mapped.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(mapped.status().message()).c_str());
    return 1;
  }
  const snapshot::SnapshotHeader& header = (*mapped)->header();
  const snapshot::ModuleIdentity& identity = header.module();
  std::printf("file          %s\n", path.c_str());
  std::printf("kind          fnhost state snapshot, format version %u\n", header.format_version());
  std::printf("module        %s %s\n", absl::CHexEscape(identity.module_name()).c_str(),
              absl::CHexEscape(identity.module_version()).c_str());
  std::printf("build id      %s\n",
              identity.build_id().empty() ? "(none)" : identity.build_id().c_str());
  std::printf("sha256        %s\n", identity.sha256().c_str());
  std::printf("abi version   %u\n", identity.abi_version());
  std::printf("sdk version   %u\n", identity.sdk_version());
  std::printf("init config   xxh3 %016llx\n",
              static_cast<unsigned long long>(identity.init_config_hash()));
  std::printf("created       %s\n",
              absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                               absl::FromUnixSeconds(header.created_unix_seconds()),
                               absl::UTCTimeZone())
                  .c_str());
  std::printf("host name     %s (in a Host's snapshot_dir; FUNCTION = its function name)\n",
              internal::SnapshotFileName("FUNCTION", identity).c_str());
  std::printf("sections      %d\n", header.section_size());
  std::printf("  %-24s %12s %14s  %-16s  %s\n", "name", "offset", "size", "xxh3", "check");
  int damaged = 0;
  uint64_t bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (const snapshot::Section& section : header.section()) {
    absl::Status status =
        VerifySectionChecksum(section, *(*mapped)->FindSection(section.name()), path);
    damaged += !status.ok();
    bytes += section.size();
    std::printf("  %-24s %12llu %14llu  %016llx  %s\n", absl::CHexEscape(section.name()).c_str(),
                static_cast<unsigned long long>(section.offset()),
                static_cast<unsigned long long>(section.size()),
                static_cast<unsigned long long>(section.xxh3()),
                status.ok() ? "ok" : "CHECKSUM MISMATCH");
    if (!status.ok()) {
      std::fprintf(stderr, "fnhost inspect: %s\n", std::string(status.message()).c_str());
    }
  }
  std::printf("verified      %llu bytes in %.3f ms: %s\n", static_cast<unsigned long long>(bytes),
              MillisSince(start), damaged == 0 ? "all checksums match" : "DAMAGED");
  return damaged == 0 ? 0 : 1;
}

}  // namespace

int InspectCommand(int argc, char** argv) {
  constexpr char kUsage[] =
      "usage: fnhost inspect MODULE.so|SNAPSHOT [--isolation=process [--init-config=STRING] "
      "[--sandbox=off|basic|strict] [the sandbox flags of fnhost run]]\n";
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  std::vector<std::string> names = {"isolation", "init-config"};
  for (const std::string& name : SandboxFlagNames()) names.push_back(name);
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, 2, names, SandboxSwitchNames());
  const std::string isolation = flags.ok() ? flags->Get("isolation") : "";
  std::string given;
  absl::StatusOr<SandboxOptions> sandbox =
      flags.ok() ? SandboxFromFlags(*flags, &given) : flags.status();
  if (flags.ok() && !sandbox.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(sandbox.status().message()).c_str());
    return 2;
  }
  if (!flags.ok() || flags->positional().size() != 1 ||
      (!isolation.empty() && isolation != "process") ||
      (!given.empty() && isolation != "process")) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  // Absolute first: dlopen would look a bare file name up in the library path.
  absl::StatusOr<std::string> path = AbsolutePath(flags->positional()[0]);
  if (!path.ok()) {
    std::fprintf(stderr, "fnhost inspect: %s\n", std::string(path.status().message()).c_str());
    return 1;
  }
  if (LooksLikeSnapshot(*path)) return InspectSnapshot(*path);
  int status = InspectModule(*path);
  if (status == 0 && isolation == "process") {
    status = InspectIsolation(*path, flags->Get("init-config"), *sandbox);
  }
  return status;
}

}  // namespace fnhost::cli
