// libFuzzer target for ParseSnapshotHeader and, through it, the section-table validation; on a
// header it accepts, also VerifySectionChecksums. Each input runs twice: as is (which mostly
// stops at the magic or the header checksum) and with the preamble repaired (magic, version, an
// in-bounds header size, the right checksum) and the file padded to whole pages, so that the
// fuzzed bytes reach the protobuf parser and the section table.
//
// Crashes on an out-of-bounds read (AddressSanitizer) or when an accepted header has a section
// outside the file.

#include <google/protobuf/stubs/logging.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "src/snapshot/snapshot_file.h"

namespace fnhost {
namespace {

void Check(std::string_view file_bytes) {
  absl::StatusOr<snapshot::SnapshotHeader> header = ParseSnapshotHeader(file_bytes, "fuzz");
  if (!header.ok()) return;
  for (const snapshot::Section& section : header->section()) {
    if (section.offset() % kSnapshotSectionAlignment != 0 || section.offset() > file_bytes.size() ||
        section.size() > file_bytes.size() - section.offset()) {
      std::abort();
    }
  }
  VerifySectionChecksums(*header, file_bytes, "fuzz").IgnoreError();
}

void StoreLittleEndian(uint64_t value, int bytes, char* out) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

// The first byte chooses how many whole pages of zeros follow the input (0..15), so that
// section offsets past the input can be in bounds.
void FuzzOne(std::string_view input) {
  Check(input);
  if (input.size() < kSnapshotPreambleSize) return;
  const uint64_t extra_pages = static_cast<unsigned char>(input[0]) % 16;
  std::string file(input);
  file.resize(RoundUpToSectionAlignment(input.size()) + extra_pages * kSnapshotSectionAlignment,
              '\0');
  std::memcpy(file.data(), kSnapshotMagic.data(), kSnapshotMagic.size());
  StoreLittleEndian(kSnapshotFormatVersion, 4, file.data() + 8);
  uint32_t header_size;
  std::memcpy(&header_size, file.data() + 12, 4);
  header_size %= static_cast<uint32_t>(input.size() - kSnapshotPreambleSize + 1);
  StoreLittleEndian(header_size, 4, file.data() + 12);
  StoreLittleEndian(XXH3_64bits(file.data() + kSnapshotPreambleSize, header_size), 8,
                    file.data() + 16);
  Check(file);
}

}  // namespace
}  // namespace fnhost

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A checksummed header with invalid UTF-8 in a string field is rejected, but logged first.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fnhost::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
