#include "src/snapshot/mapped_snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"
#include "src/snapshot/snapshot_file.h"

namespace fnhost {
namespace {

std::string Quoted(const std::string& value) {
  return value.empty() ? "(none)" : absl::StrCat("'", absl::CHexEscape(value), "'");
}

// Compares field by field so that the message says which one differs. A test holds the field
// count of ModuleIdentity, so a new field cannot be forgotten here.
absl::Status CheckIdentity(const snapshot::ModuleIdentity& actual,
                           const snapshot::ModuleIdentity& expected, const std::string& path) {
  auto mismatch = [&path](std::string_view field, const std::string& built_by,
                          const std::string& current) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", path, " was built by a module with ", AsAbsl(field), " ",
                     built_by, "; this module has ", AsAbsl(field), " ", current));
  };
  if (actual.build_id() != expected.build_id()) {
    return mismatch("build_id", Quoted(actual.build_id()), Quoted(expected.build_id()));
  }
  if (actual.sha256() != expected.sha256()) {
    return mismatch("sha256", Quoted(actual.sha256()), Quoted(expected.sha256()));
  }
  if (actual.abi_version() != expected.abi_version()) {
    return mismatch("abi_version", absl::StrCat(actual.abi_version()),
                    absl::StrCat(expected.abi_version()));
  }
  if (actual.sdk_version() != expected.sdk_version()) {
    return mismatch("sdk_version", absl::StrCat(actual.sdk_version()),
                    absl::StrCat(expected.sdk_version()));
  }
  if (actual.module_name() != expected.module_name()) {
    return mismatch("module_name", Quoted(actual.module_name()), Quoted(expected.module_name()));
  }
  if (actual.module_version() != expected.module_version()) {
    return mismatch("module_version", Quoted(actual.module_version()),
                    Quoted(expected.module_version()));
  }
  if (actual.init_config_hash() != expected.init_config_hash()) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", path, " was built from an init config with hash ",
                     absl::Hex(actual.init_config_hash()), "; this init config has hash ",
                     absl::Hex(expected.init_config_hash())));
  }
  return absl::OkStatus();
}

int32_t FindSectionForAbi(void* host_data, const char* name, size_t name_size, const void** data,
                          size_t* size) {
  std::optional<std::string_view> section =
      static_cast<const MappedSnapshot*>(host_data)->FindSection(std::string_view(name, name_size));
  if (!section.has_value()) return FNHOST_STATUS_NOT_FOUND;
  *data = section->data();
  *size = section->size();
  return FNHOST_STATUS_OK;
}

absl::StatusOr<bool> IsPrivate(const std::string& path, bool directory) {
  absl::StatusOr<struct stat> st = FileSystem::Default()->Stat(path);
  if (!st.ok()) return st.status();
  if (directory ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a ", directory ? "directory" : "regular file"));
  }
  return st->st_uid == ::geteuid() && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

}  // namespace

MappedSnapshot::MappedSnapshot(std::string path, const char* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

MappedSnapshot::~MappedSnapshot() { ::munmap(const_cast<char*>(data_), size_); }

absl::StatusOr<std::unique_ptr<MappedSnapshot>> MappedSnapshot::Open(
    const std::string& path, const snapshot::ModuleIdentity& expected,
    SectionVerification verification) {
  return OpenImpl(path, &expected, verification);
}

absl::StatusOr<std::unique_ptr<MappedSnapshot>> MappedSnapshot::OpenForInspection(
    const std::string& path, SectionVerification verification) {
  return OpenImpl(path, nullptr, verification);
}

absl::StatusOr<std::unique_ptr<MappedSnapshot>> MappedSnapshot::OpenImpl(
    const std::string& path, const snapshot::ModuleIdentity* expected,
    SectionVerification verification) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "MappedSnapshot::Open: open", path);
  absl::Cleanup closer = [fd] { ::close(fd); };
  return MapImpl(fd, path, expected, verification);
}

absl::StatusOr<std::unique_ptr<MappedSnapshot>> MappedSnapshot::OpenDescriptor(
    int fd, const std::string& name, const snapshot::ModuleIdentity& expected,
    SectionVerification verification) {
  return MapImpl(fd, name, &expected, verification);
}

absl::StatusOr<std::unique_ptr<MappedSnapshot>> MappedSnapshot::MapImpl(
    int fd, const std::string& path, const snapshot::ModuleIdentity* expected,
    SectionVerification verification) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, "MappedSnapshot::Open: fstat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("MappedSnapshot::Open: ", path, " is not a regular file"));
  }
  // mmap refuses an empty range; let the parser report the empty file.
  if (st.st_size == 0) return ParseSnapshotHeader({}, path).status();
  const size_t size = static_cast<size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) return ErrnoError(errno, "MappedSnapshot::Open: mmap", path);
  std::unique_ptr<MappedSnapshot> mapped(
      new MappedSnapshot(path, static_cast<const char*>(data), size));

  const std::string_view file_bytes(mapped->data_, size);
  absl::StatusOr<snapshot::SnapshotHeader> header = ParseSnapshotHeader(file_bytes, path);
  if (!header.ok()) return header.status();
  mapped->header_ = *std::move(header);
  if (expected != nullptr) {
    if (absl::Status status = CheckIdentity(mapped->header_.module(), *expected, path);
        !status.ok()) {
      return status;
    }
  }
  if (verification == SectionVerification::kVerify) {
    if (absl::Status status = VerifySectionChecksums(mapped->header_, file_bytes, path);
        !status.ok()) {
      return status;
    }
  }
  for (const snapshot::Section& section : mapped->header_.section()) {
    mapped->sections_.emplace(section.name(), file_bytes.substr(section.offset(), section.size()));
  }
  return mapped;
}

std::optional<std::string_view> MappedSnapshot::FindSection(std::string_view name) const {
  auto it = sections_.find(AsAbsl(name));
  if (it == sections_.end()) return std::nullopt;
  return it->second;
}

fnhost_host_snapshot_reader MappedSnapshot::AsAbi() const {
  return fnhost_host_snapshot_reader{const_cast<MappedSnapshot*>(this), &FindSectionForAbi};
}

absl::StatusOr<bool> IsPrivateDirectory(const std::string& directory) {
  return IsPrivate(directory, /*directory=*/true);
}

absl::StatusOr<bool> IsPrivateFile(const std::string& path) {
  return IsPrivate(path, /*directory=*/false);
}

}  // namespace fnhost
