#include "src/host/state_snapshots.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fnhost/module.h"
#include "src/common/sha256.h"
#include "src/common/strings.h"
#include "src/host/abi_glue.h"
#include "src/loader/elf_info.h"
#include "src/snapshot/snapshot_file.h"
#include "src/snapshot/snapshot_writer.h"

namespace fnhost::internal {

absl::StatusOr<snapshot::ModuleIdentity> IdentityOf(const LoadedModule& module,
                                                    std::string_view init_config) {
  absl::StatusOr<ElfInfo> elf = ReadElfInfo(module.loaded_path());
  if (!elf.ok()) return elf.status();
  absl::StatusOr<std::string> sha256 = Sha256HexOfFile(module.loaded_path());
  if (!sha256.ok()) return sha256.status();
  const fnhost_module_v1& table = module.table();
  snapshot::ModuleIdentity identity;
  identity.set_build_id(elf->build_id);
  identity.set_sha256(*sha256);
  identity.set_abi_version(table.abi_version);
  identity.set_sdk_version(table.sdk_version);
  identity.set_module_name(table.name);
  identity.set_module_version(table.version);
  identity.set_init_config_hash(InitConfigHash(init_config));
  return identity;
}

std::string SnapshotFileName(std::string_view function, const snapshot::ModuleIdentity& identity) {
  return absl::StrFormat("%s.%s.%016x.snap", AsAbsl(function), identity.sha256().substr(0, 16),
                         identity.init_config_hash());
}

std::string SnapshotPath(const std::string& directory, std::string_view function,
                         const snapshot::ModuleIdentity& identity) {
  return absl::StrCat(directory, "/", SnapshotFileName(function, identity));
}

absl::StatusOr<RestoredState> RestoreState(const fnhost_module_v1& table,
                                           const fnhost_host_init_context& context,
                                           const std::string& path,
                                           const snapshot::ModuleIdentity& identity,
                                           bool trust_private_directory) {
  SectionVerification verification = SectionVerification::kVerify;
  if (trust_private_directory) {
    absl::StatusOr<bool> private_dir =
        IsPrivateDirectory(std::filesystem::path(path).parent_path().string());
    absl::StatusOr<bool> private_file = IsPrivateFile(path);
    if (private_dir.ok() && *private_dir && private_file.ok() && *private_file) {
      verification = SectionVerification::kTrust;
    }
  }
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::Open(path, identity, verification);
  if (!mapped.ok()) return mapped.status();

  RestoredState restored;
  restored.snapshot = *std::move(mapped);
  fnhost_host_snapshot_reader reader = restored.snapshot->AsAbi();
  int32_t code = table.state_restore(&context, &reader, &restored.state);
  if (code != FNHOST_STATUS_OK) {  // the module's message is in context.error
    return absl::Status(static_cast<absl::StatusCode>(code),
                        absl::StrCat("state_restore from ", path, " failed"));
  }
  if (table.state_after_restore != nullptr) {
    code = table.state_after_restore(restored.state, &context);
    if (code != FNHOST_STATUS_OK) {
      table.state_destroy(restored.state);
      return absl::Status(static_cast<absl::StatusCode>(code),
                          absl::StrCat("state_after_restore after ", path, " failed"));
    }
  }
  return restored;
}

absl::Status WriteStateSnapshot(const fnhost_module_v1& table, const fnhost_module_state* state,
                                std::string_view function, FileSystem* fs,
                                const std::string& path,
                                const snapshot::ModuleIdentity& identity, absl::Time now) {
  if (absl::Status status =
          fs->CreateDirectories(std::filesystem::path(path).parent_path().string());
      !status.ok()) {
    return status;
  }
  SnapshotFileWriter writer(fs, path, identity, now);
  fnhost_host_snapshot_writer raw = writer.AsAbi();
  CallOutput error(nullptr);
  int32_t code = table.state_snapshot(state, &raw, error.raw());
  if (code != FNHOST_STATUS_OK) return error.ToStatus(code, function, "state snapshot");
  return writer.Commit();
}

}  // namespace fnhost::internal
