// `fnhost snapshot MODULE.so --out=FILE|DIR`: runs a module's init once, ahead of time (at build
// or deploy time), and writes its state's snapshot where a Host restores it from instead of
// running init. The snapshot carries the same identity the Host computes (IdentityOf), so a
// Host restores it exactly when it would restore one it had written itself.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/common/paths.h"
#include "src/common/file_system.h"
#include "src/loader/module_loader.h"
#include "src/runtime/state_builder.h"
#include "src/snapshot/mapped_snapshot.h"
#include "src/snapshot/state_snapshots.h"

namespace fnhost::cli {
namespace {

constexpr char kUsage[] =
    "usage: fnhost snapshot MODULE.so --out=FILE|DIR [--init-config=STRING] [--function=NAME]\n"
    "  Runs the module's init once and writes its state's snapshot atomically.\n"
    "  --out=DIR   (an existing directory, or a path ending in '/') writes\n"
    "              DIR/NAME.<sha256 prefix>.<init-config hash>.snap: the file a Host with\n"
    "              snapshot_dir=DIR (or `fnhost run --snapshot-dir=DIR`) restores function\n"
    "              NAME from when it loads this module file with this init config.\n"
    "  --out=FILE  writes FILE and prints the name it must have inside a snapshot directory.\n"
    "  --init-config  the init config the Host will pass (it is part of the identity).\n"
    "  --function  the name the module is registered under. Default: main, as `fnhost run`.\n";

struct Request {
  std::string module_path;
  std::string out;
  std::string init_config;
  std::string function;
};

struct Result {
  std::string path;       // where the snapshot was written
  std::string file_name;  // the name a Host looks for in its snapshot_dir
  bool into_directory = false;
  snapshot::SnapshotHeader header;
  uint64_t file_size = 0;
  double init_ms = 0;
  double write_ms = 0;
};

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Whether --out names a directory to put the Host's file name into.
bool IsDirectoryTarget(const std::string& out) {
  struct stat st;
  return out.back() == '/' || (::stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
}

// Builds the state with the module's init and writes its snapshot, as a Host's StateBuilder
// would after an init; the state and the module are released before returning.
absl::Status BuildSnapshot(const Request& request, Result* result) {
  runtime::ModuleConfig config;
  config.set_function_name(request.function);
  config.set_module_path(request.module_path);
  config.set_init_config(request.init_config);
  // No module digest cache: it would leave a file next to the snapshot.
  config.set_trust_private_snapshot_dir(false);
  const bool into_directory = IsDirectoryTarget(request.out);
  if (into_directory) {
    config.set_snapshot_dir(request.out.back() == '/' ? request.out.substr(0, request.out.size() - 1)
                                                      : request.out);
  }
  internal::StateBuilder builder(config, *Clock::Real(), *FileSystem::Default(), nullptr);
  LoadTimings timings;
  if (absl::Status status = builder.Load(&timings); !status.ok()) return status;
  const fnhost_module_v1& table = builder.table();
  if (!builder.module().supports_snapshots()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "module ", request.module_path, " ('", table.name, "' ", table.version,
        ") does not support snapshots: its state implements no Snapshot/Restore"));
  }
  if (absl::Status status = builder.ComputeIdentity(); !status.ok()) return status;
  const snapshot::ModuleIdentity& identity = builder.identity();
  result->file_name = internal::SnapshotFileName(request.function, identity);
  result->into_directory = into_directory;
  result->path = into_directory ? builder.snapshot_path() : request.out;

  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<fnhost_module_state*> state = builder.Init();
  result->init_ms = MillisSince(start);
  if (!state.ok()) return state.status();
  start = std::chrono::steady_clock::now();
  absl::Status written = builder.WriteSnapshotTo(*state, result->path);
  result->write_ms = MillisSince(start);
  builder.Unload(*state);
  if (!written.ok()) return written;

  // Read it back the way a Host does, so that what is reported is what a Host will see.
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> check =
      MappedSnapshot::Open(result->path, identity, SectionVerification::kVerify);
  if (!check.ok()) return check.status();
  result->header = (*check)->header();
  struct stat st;
  if (::stat(result->path.c_str(), &st) == 0) result->file_size = static_cast<uint64_t>(st.st_size);
  return absl::OkStatus();
}

}  // namespace

int SnapshotCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, 2, {"out", "init-config", "function"});
  if (!flags.ok() || flags->positional().size() != 1 || flags->Get("out").empty()) {
    std::fprintf(stderr, "fnhost snapshot: %s\n%s",
                 !flags.ok()        ? std::string(flags.status().message()).c_str()
                 : flags->Get("out").empty() ? "--out=FILE|DIR is required"
                                             : "expected one MODULE.so",
                 kUsage);
    return 2;
  }
  // Absolute first: dlopen would look a bare file name up in the library path.
  absl::StatusOr<std::string> module_path = AbsolutePath(flags->positional()[0]);
  absl::StatusOr<std::string> out = AbsolutePath(flags->Get("out"));
  Request request{module_path.value_or(""), out.value_or(""), flags->Get("init-config"),
                  flags->Get("function", "main")};
  Result result;
  absl::Status status = !module_path.ok() ? module_path.status() : out.status();
  if (status.ok()) status = BuildSnapshot(request, &result);
  if (!status.ok()) {
    std::fprintf(stderr, "fnhost snapshot: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  const snapshot::ModuleIdentity& identity = result.header.module();
  std::printf("wrote %s (%d sections, %llu bytes, checksums verified)\n", result.path.c_str(),
              result.header.section_size(), static_cast<unsigned long long>(result.file_size));
  std::printf("  module   %s %s, build id %s, sha256 %s\n", identity.module_name().c_str(),
              identity.module_version().c_str(),
              identity.build_id().empty() ? "(none)" : identity.build_id().c_str(),
              identity.sha256().c_str());
  std::printf("  init     %.3f ms\n  write    %.3f ms\n", result.init_ms, result.write_ms);
  if (result.into_directory) {
    std::printf("  a Host with this snapshot_dir restores function '%s' from it\n",
                request.function.c_str());
  } else {
    std::printf("  to restore it, place it in a Host's snapshot_dir as %s\n",
                result.file_name.c_str());
  }
  return 0;
}

}  // namespace fnhost::cli
