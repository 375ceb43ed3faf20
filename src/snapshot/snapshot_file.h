// The on-disk format of a persisted state snapshot, and the parsing of its header.
// SnapshotFileWriter (snapshot_writer.h) writes this format; MappedSnapshot (mapped_snapshot.h)
// maps it back.
//
// File layout (all integers little-endian):
//
//   offset 0    8 bytes   magic "FNHSNAP1"
//   offset 8    uint32    format version (kSnapshotFormatVersion)
//   offset 12   uint32    header size H in bytes
//   offset 16   uint64    XXH3-64 (seed 0) of the H header bytes
//   offset 24   H bytes   fnhost.snapshot.SnapshotHeader, serialized protobuf
//   zero padding up to the next multiple of 4096
//   sections, in the order they were added, each starting at a multiple of 4096 and followed by
//   zero padding up to the next multiple of 4096; the file size is a multiple of 4096.
//
// The header's section table gives each section's name, offset, size and XXH3-64. An empty
// section takes no space: its offset is where the next section starts (possibly the file size).
// Sections start on 4096-byte boundaries so that a mapping of the whole file hands out views
// that are page-aligned (and so 64-byte aligned) with no copy.
//
// What is checked, and what is not:
// - ParseSnapshotHeader checks the magic, the version, the header size, the header checksum, the
//   section table (aligned, after the header, inside the file, not overlapping, unique names),
//   and that the file size is a multiple of 4096 (so that any truncation is detected).
// - VerifySectionChecksums checks the sections' bytes. It reads every byte, so a caller that
//   trusts the file (SectionVerification::kTrust) skips it; a flipped bit inside a section then
//   goes unnoticed by design.
// - The zero padding is covered by no checksum; changes to it are not detected and harmless.
//
// Status codes: DATA_LOSS for a damaged, truncated or foreign file; FAILED_PRECONDITION for an
// intact file that this build cannot use (another format version).
//
// Thread-safety: the functions here are thread-safe.

#ifndef FNHOST_SRC_SNAPSHOT_SNAPSHOT_FILE_H_
#define FNHOST_SRC_SNAPSHOT_SNAPSHOT_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/snapshot.pb.h"

namespace fnhost {

inline constexpr std::string_view kSnapshotMagic = "FNHSNAP1";
inline constexpr uint32_t kSnapshotFormatVersion = 1;
inline constexpr uint64_t kSnapshotPreambleSize = 24;
inline constexpr uint64_t kSnapshotSectionAlignment = 4096;
// Keeps the header parseable by protobuf (whose sizes are ints) with room to spare.
inline constexpr uint64_t kMaxSnapshotHeaderSize = uint64_t{16} << 20;

// `size` rounded up to a multiple of kSnapshotSectionAlignment.
inline uint64_t RoundUpToSectionAlignment(uint64_t size) {
  return (size + kSnapshotSectionAlignment - 1) & ~(kSnapshotSectionAlignment - 1);
}

// The preamble followed by the serialized `header`, with header.format_version() as the
// preamble's version. INVALID_ARGUMENT if the header exceeds kMaxSnapshotHeaderSize.
absl::StatusOr<std::string> EncodeSnapshotHeader(const snapshot::SnapshotHeader& header);

// Parses and validates the preamble, the header and the section table of a whole snapshot
// file's bytes (see "What is checked" above). Reads no section bytes. `path_for_messages` names
// the file in error messages.
absl::StatusOr<snapshot::SnapshotHeader> ParseSnapshotHeader(std::string_view file_bytes,
                                                             const std::string& path_for_messages);

// Checks one section's XXH3-64 against `contents`, the section's bytes.
absl::Status VerifySectionChecksum(const snapshot::Section& section, std::string_view contents,
                                   const std::string& path_for_messages);

// Checks each section's XXH3-64. `header` must come from ParseSnapshotHeader(file_bytes, ...).
absl::Status VerifySectionChecksums(const snapshot::SnapshotHeader& header,
                                    std::string_view file_bytes,
                                    const std::string& path_for_messages);

// XXH3-64 of an init config, for ModuleIdentity.init_config_hash.
uint64_t InitConfigHash(std::string_view init_config);

}  // namespace fnhost

#endif  // FNHOST_SRC_SNAPSHOT_SNAPSHOT_FILE_H_
