// `fnhost inspect FILE`: what a module is and what loading it costs, or what a snapshot holds.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/loader/elf_info.h"
#include "src/loader/module_loader.h"

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
      "inspect", path, LoadOptions{}, *FileSystem::Default(), *Clock::Real(), &timings);
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

}  // namespace

int InspectCommand(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, 2, {});
  if (!flags.ok() || flags->positional().size() != 1) {
    std::fprintf(stderr, "usage: fnhost inspect MODULE.so|SNAPSHOT\n");
    return 2;
  }
  return InspectModule(flags->positional()[0]);
}

}  // namespace fnhost::cli
