// MappedSnapshot: a snapshot file (format in src/snapshot/snapshot_file.h) mapped read-only,
// handing out its sections as zero-copy views; and the check of whether a snapshot location is
// private enough to skip the section checksums.
//
// The mapping is private (MAP_PRIVATE) and pages fault in on first use, so opening costs the
// header's size, not the state's, unless the checksums are verified. SnapshotFileWriter replaces
// files by rename, so a mapped snapshot never changes under its reader; a file truncated or
// rewritten in place by someone else while it is mapped may change the views, or raise SIGBUS
// when a page past the new end is touched. That is why kTrust is only for private locations.
//
// Thread-safety: a MappedSnapshot is immutable after Open; all its methods are thread-safe.

#ifndef FNHOST_SRC_SNAPSHOT_MAPPED_SNAPSHOT_H_
#define FNHOST_SRC_SNAPSHOT_MAPPED_SNAPSHOT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "fnhost/abi.h"
#include "fnhost/snapshot.pb.h"

namespace fnhost {

enum class SectionVerification {
  // Check every section's XXH3-64: reads (faults in) the whole file.
  kVerify,
  // Skip the section checksums: a damaged section goes unnoticed. Only for files in a location
  // for which IsPrivateDirectory and IsPrivateFile hold.
  kTrust,
};

class MappedSnapshot {
 public:
  // Maps `path` and checks its preamble, header and section table (see snapshot_file.h), then
  // that the header's module identity equals `expected` field by field, then, with kVerify, the
  // section checksums. FAILED_PRECONDITION when the identity differs (the message names the
  // field and both values); DATA_LOSS for a damaged or truncated file; NOT_FOUND or
  // PERMISSION_DENIED from opening it.
  static absl::StatusOr<std::unique_ptr<MappedSnapshot>> Open(
      const std::string& path, const snapshot::ModuleIdentity& expected,
      SectionVerification verification);

  // Like Open without the identity check, for tools that display a snapshot.
  static absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenForInspection(
      const std::string& path, SectionVerification verification);

  // Like Open, for a snapshot file that is already open (a sealed memfd, see
  // snapshot_memfd.h); `name` stands for the file in messages. The descriptor stays the
  // caller's: the mapping does not need it once made.
  static absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenDescriptor(
      int fd, const std::string& name, const snapshot::ModuleIdentity& expected,
      SectionVerification verification);

  ~MappedSnapshot();
  MappedSnapshot(const MappedSnapshot&) = delete;
  MappedSnapshot& operator=(const MappedSnapshot&) = delete;

  const std::string& path() const { return path_; }
  const snapshot::SnapshotHeader& header() const { return header_; }

  // The bytes of a section: read-only, 4096-byte aligned (so 64-byte aligned), valid while this
  // object lives. std::nullopt if there is no such section.
  std::optional<std::string_view> FindSection(std::string_view name) const;

  // The ABI view for state_restore: find_section calls FindSection. Valid while this object
  // lives, which must be until state_destroy of the restored state.
  fnhost_host_snapshot_reader AsAbi() const;

 private:
  MappedSnapshot(std::string path, const char* data, size_t size);
  static absl::StatusOr<std::unique_ptr<MappedSnapshot>> OpenImpl(
      const std::string& path, const snapshot::ModuleIdentity* expected,
      SectionVerification verification);
  static absl::StatusOr<std::unique_ptr<MappedSnapshot>> MapImpl(
      int fd, const std::string& path, const snapshot::ModuleIdentity* expected,
      SectionVerification verification);

  const std::string path_;
  const char* const data_;  // The mapping; size_ bytes.
  const size_t size_;
  snapshot::SnapshotHeader header_;
  absl::flat_hash_map<std::string, std::string_view> sections_;
};

// Whether `directory` is a directory owned by this process's effective user and not writable by
// its group or others: then nobody else can replace a snapshot file inside it.
absl::StatusOr<bool> IsPrivateDirectory(const std::string& directory);

// Whether `path` is a regular file owned by this process's effective user and not writable by
// its group or others: then nobody else can rewrite it in place.
absl::StatusOr<bool> IsPrivateFile(const std::string& path);

}  // namespace fnhost

#endif  // FNHOST_SRC_SNAPSHOT_MAPPED_SNAPSHOT_H_
