#include "src/snapshot/state_snapshots.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/sha256.h"
#include "src/common/strings.h"
#include "src/snapshot/snapshot_file.h"

namespace fnhost::internal {

namespace {

constexpr char kHashCacheMagic[] = "fnhost-module-digest-v1";

// An entry is this prefix, the 64 hex digits of the hash and a newline.
std::string EntryPrefix(const FileKey& key) {
  return absl::StrCat(kHashCacheMagic, " ", key.device, " ", key.inode, " ", key.size, " ",
                      key.mtime_ns, " ", key.ctime_ns, " ");
}

// One entry per module path, so that a rebuilt module replaces its entry.
std::string EntryPath(const ModuleHashCache& cache, const std::string& module_path) {
  return absl::StrCat(cache.directory, "/module-digest.", Sha256Hex(module_path).substr(0, 16));
}

bool IsLowerHex(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// An entry's text after its prefix: the SHA-256, a space, the build id ("-" for none), "\n".
std::string EntrySuffix(const ModuleFileDigest& digest) {
  return absl::StrCat(digest.sha256, " ", digest.build_id.empty() ? "-" : digest.build_id, "\n");
}

std::optional<ModuleFileDigest> CachedDigest(const std::string& entry_path, const FileKey& key) {
  absl::StatusOr<bool> private_file = IsPrivateFile(entry_path);
  if (!private_file.ok() || !*private_file) return std::nullopt;
  std::ifstream in(entry_path, std::ios::binary);
  std::string text(512, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  // The entry must be what this key would write; anything else is ignored.
  const std::string prefix = EntryPrefix(key);
  if (!absl::StartsWith(text, prefix) || !absl::EndsWith(text, "\n")) return std::nullopt;
  const std::string_view rest = std::string_view(text).substr(prefix.size());
  const size_t space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  ModuleFileDigest digest;
  digest.sha256 = std::string(rest.substr(0, space));
  const std::string_view build_id = rest.substr(space + 1, rest.size() - space - 2);
  if (build_id != "-") digest.build_id = std::string(build_id);
  if (digest.sha256.size() != 64 || !IsLowerHex(digest.sha256) ||
      (!digest.build_id.empty() && !IsLowerHex(digest.build_id))) {
    return std::nullopt;
  }
  return digest;
}

// Best effort: a failure only means the next cold start reads the module again. Written to a
// temporary name and renamed, so that a reader never sees half an entry.
void RememberDigest(const std::string& entry_path, const FileKey& key,
                    const ModuleFileDigest& digest) {
  static std::atomic<uint64_t> writes{0};  // threads of one process write apart too
  const std::string temp = absl::StrCat(entry_path, ".tmp.", ::getpid(), ".", writes++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string text = EntryPrefix(key) + EntrySuffix(digest);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (::close(fd) != 0 || !written || ::rename(temp.c_str(), entry_path.c_str()) != 0) {
    ::unlink(temp.c_str());
  }
}

}  // namespace

ModuleHashCache TrustedModuleHashCache(const std::string& snapshot_dir, bool trust,
                                       absl::Time now) {
  if (!trust || snapshot_dir.empty()) return {};
  absl::StatusOr<bool> private_dir = IsPrivateDirectory(snapshot_dir);
  if (!private_dir.ok() || !*private_dir) return {};
  return ModuleHashCache{.directory = snapshot_dir, .now = now};
}

absl::StatusOr<ModuleFileDigest> DigestModule(const LoadedModule& module,
                                              const ModuleHashCache& cache) {
  // The loaded bytes belong to the key only if the file did not change while it was read.
  const bool keyed = !cache.directory.empty() && module.source_unchanged();
  const std::string entry_path = keyed ? EntryPath(cache, module.path()) : "";
  if (keyed) {
    std::optional<ModuleFileDigest> cached = CachedDigest(entry_path, module.source_key());
    if (cached.has_value() && cached->build_id == module.build_id()) return *cached;
  }
  if (!module.sha256().ok()) return module.sha256().status();
  ModuleFileDigest digest{.build_id = module.build_id(), .sha256 = *module.sha256()};
  if (keyed && absl::FromUnixNanos(module.source_key().ctime_ns) + kModuleHashRacyWindow <
                   cache.now) {
    RememberDigest(entry_path, module.source_key(), digest);
  }
  return digest;
}

absl::StatusOr<snapshot::ModuleIdentity> IdentityOf(const LoadedModule& module,
                                                    std::string_view init_config,
                                                    const ModuleHashCache& cache) {
  absl::StatusOr<ModuleFileDigest> digest = DigestModule(module, cache);
  if (!digest.ok()) return digest.status();
  const fnhost_module_v1& table = module.table();
  snapshot::ModuleIdentity identity;
  identity.set_build_id(digest->build_id);
  identity.set_sha256(digest->sha256);
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

absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenStateSnapshot(
    const std::string& path, const snapshot::ModuleIdentity& identity,
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
  return MappedSnapshot::Open(path, identity, verification);
}

}  // namespace fnhost::internal
