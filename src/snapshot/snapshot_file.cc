#include "src/snapshot/snapshot_file.h"

#include <xxhash.h>

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost {
namespace {

constexpr uint64_t kVersionOffset = 8;
constexpr uint64_t kHeaderSizeOffset = 12;
constexpr uint64_t kHeaderHashOffset = 16;

uint64_t Hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

uint64_t LoadLittleEndian(std::string_view bytes, uint64_t offset, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

absl::Status Corrupt(const std::string& path, std::string_view what) {
  return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", AsAbsl(what)));
}

std::string SectionLabel(const snapshot::Section& section) {
  return absl::StrCat("section '", absl::CHexEscape(section.name()), "' [", section.offset(), ", +",
                      section.size(), ")");
}

absl::Status ValidateSectionTable(const snapshot::SnapshotHeader& header, uint64_t header_end,
                                  uint64_t file_size, const std::string& path) {
  absl::flat_hash_set<std::string> names;
  std::vector<const snapshot::Section*> by_offset;
  for (const snapshot::Section& section : header.section()) {
    if (!names.insert(section.name()).second) {
      return Corrupt(path, absl::StrCat("duplicate ", SectionLabel(section)));
    }
    if (section.offset() % kSnapshotSectionAlignment != 0) {
      return Corrupt(path, absl::StrCat(SectionLabel(section), " is not aligned to ",
                                        kSnapshotSectionAlignment, " bytes"));
    }
    if (section.offset() < header_end) {
      return Corrupt(path, absl::StrCat(SectionLabel(section),
                                        " overlaps the header, which ends at ", header_end));
    }
    if (section.offset() > file_size || section.size() > file_size - section.offset()) {
      return Corrupt(path, absl::StrCat(SectionLabel(section), " runs past the end of the ",
                                        file_size, "-byte file (truncated?)"));
    }
    by_offset.push_back(&section);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const snapshot::Section* a, const snapshot::Section* b) {
              return a->offset() != b->offset() ? a->offset() < b->offset() : a->size() < b->size();
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const snapshot::Section& previous = *by_offset[i - 1];
    if (previous.offset() + previous.size() > by_offset[i]->offset()) {
      return Corrupt(
          path, absl::StrCat(SectionLabel(previous), " overlaps ", SectionLabel(*by_offset[i])));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeSnapshotHeader(const snapshot::SnapshotHeader& header) {
  const size_t header_size = header.ByteSizeLong();
  if (header_size > kMaxSnapshotHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodeSnapshotHeader: the snapshot header would take ", header_size,
        " bytes, more than the limit of ", kMaxSnapshotHeaderSize, " (too many sections?)"));
  }
  std::string serialized = header.SerializeAsString();
  std::string out(kSnapshotMagic);
  AppendLittleEndian(header.format_version(), 4, &out);
  AppendLittleEndian(serialized.size(), 4, &out);
  AppendLittleEndian(Hash(serialized), 8, &out);
  out += serialized;
  return out;
}

absl::StatusOr<snapshot::SnapshotHeader> ParseSnapshotHeader(std::string_view file_bytes,
                                                             const std::string& path) {
  const uint64_t file_size = file_bytes.size();
  if (file_size == 0) return Corrupt(path, "the file is empty");
  if (file_size < kSnapshotPreambleSize) {
    return Corrupt(path,
                   absl::StrCat("the file has ", file_size, " bytes, fewer than the preamble's ",
                                kSnapshotPreambleSize, " (truncated?)"));
  }
  if (file_bytes.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
    return Corrupt(path, "not an fnhost snapshot (bad magic)");
  }
  const uint64_t version = LoadLittleEndian(file_bytes, kVersionOffset, 4);
  if (version != kSnapshotFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot ", path, " has format version ",
                                                      version, "; this build reads version ",
                                                      kSnapshotFormatVersion));
  }
  const uint64_t header_size = LoadLittleEndian(file_bytes, kHeaderSizeOffset, 4);
  if (header_size > kMaxSnapshotHeaderSize || header_size > file_size - kSnapshotPreambleSize) {
    return Corrupt(path,
                   absl::StrCat("the header of ", header_size, " bytes runs past the end of the ",
                                file_size, "-byte file (truncated?)"));
  }
  const std::string_view header_bytes = file_bytes.substr(kSnapshotPreambleSize, header_size);
  if (Hash(header_bytes) != LoadLittleEndian(file_bytes, kHeaderHashOffset, 8)) {
    return Corrupt(path, "header checksum mismatch");
  }
  snapshot::SnapshotHeader header;
  if (!header.ParseFromArray(header_bytes.data(), static_cast<int>(header_bytes.size()))) {
    return Corrupt(path, "the header does not parse as fnhost.snapshot.SnapshotHeader");
  }
  if (header.format_version() != version) {
    return Corrupt(path, absl::StrCat("the header says format version ", header.format_version(),
                                      ", the preamble ", version));
  }
  if (file_size % kSnapshotSectionAlignment != 0) {
    return Corrupt(path, absl::StrCat("the file size ", file_size, " is not a multiple of ",
                                      kSnapshotSectionAlignment, " (truncated?)"));
  }
  if (absl::Status status =
          ValidateSectionTable(header, kSnapshotPreambleSize + header_size, file_size, path);
      !status.ok()) {
    return status;
  }
  return header;
}

absl::Status VerifySectionChecksum(const snapshot::Section& section, std::string_view contents,
                                   const std::string& path) {
  if (Hash(contents) != section.xxh3()) {
    return Corrupt(path, absl::StrCat(SectionLabel(section), ": checksum mismatch"));
  }
  return absl::OkStatus();
}

absl::Status VerifySectionChecksums(const snapshot::SnapshotHeader& header,
                                    std::string_view file_bytes, const std::string& path) {
  for (const snapshot::Section& section : header.section()) {
    if (absl::Status status = VerifySectionChecksum(
            section, file_bytes.substr(section.offset(), section.size()), path);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

uint64_t InitConfigHash(std::string_view init_config) { return Hash(init_config); }

}  // namespace fnhost
