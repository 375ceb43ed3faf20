// Tests of the snapshot file: writing (atomicity under injected failures), mapping back, and
// rejecting damaged, truncated, foreign or mismatched files.

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/file_system.h"
#include "src/snapshot/mapped_snapshot.h"
#include "src/snapshot/snapshot_file.h"
#include "src/snapshot/snapshot_writer.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

using Sections = std::vector<std::pair<std::string, std::string>>;

snapshot::ModuleIdentity Identity() {
  snapshot::ModuleIdentity identity;
  identity.set_build_id("0123456789abcdef0123456789abcdef01234567");
  identity.set_sha256("ab12000000000000000000000000000000000000000000000000000000000000");
  identity.set_abi_version(1);
  identity.set_sdk_version(3);
  identity.set_module_name("counter");
  identity.set_module_version("1.2.0");
  identity.set_init_config_hash(InitConfigHash("{\"size\": 10}"));
  return identity;
}

// Deterministic, position-dependent bytes, so that a misplaced section shows.
std::string Pattern(size_t size, char seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(seed + i * 7 + (i >> 8));
  return bytes;
}

// Sections of every interesting shape: partial page, empty, exactly one page, one byte, and an
// empty one at the end (whose offset is the file size).
Sections TestSections() {
  return {{"alpha", Pattern(5000, 'a')},
          {"empty", ""},
          {"page", Pattern(4096, 'p')},
          {"byte", "x"},
          {"tail", ""}};
}

absl::Status WriteSnapshot(FileSystem* fs, const std::string& path, const Sections& sections,
                           const snapshot::ModuleIdentity& identity = Identity()) {
  SnapshotFileWriter writer(fs, path, identity, absl::FromUnixSeconds(1700000000));
  for (const auto& [name, bytes] : sections) {
    if (absl::Status status = writer.AddSection(name, bytes); !status.ok()) return status;
  }
  return writer.Commit();
}

std::string ReadBytes(const std::string& path) {
  absl::StatusOr<std::string> bytes = FileSystem::Default()->ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

std::set<std::string> ListDirectory(const std::string& directory) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// Checks that `path` holds a valid snapshot with exactly `sections`.
void ExpectSnapshotHolds(const std::string& path, const Sections& sections) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::Open(path, Identity(), SectionVerification::kVerify);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_EQ((*mapped)->header().section_size(), static_cast<int>(sections.size()));
  for (const auto& [name, bytes] : sections) {
    std::optional<std::string_view> found = (*mapped)->FindSection(name);
    ASSERT_TRUE(found.has_value()) << name;
    EXPECT_EQ(*found, bytes) << name;
  }
}

class SnapshotFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("f.snap");
    ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path_, TestSections()).ok());
    bytes_ = ReadBytes(path_);
    absl::StatusOr<snapshot::SnapshotHeader> header = ParseSnapshotHeader(bytes_, path_);
    ASSERT_TRUE(header.ok()) << header.status();
    header_ = *header;
  }

  // Writes `bytes` to a new file and opens it with the expected identity.
  absl::Status OpenBytes(const std::string& bytes,
                         SectionVerification verification = SectionVerification::kVerify) {
    std::string path = dir_.Write("bad.snap", bytes, 0600);
    return MappedSnapshot::Open(path, Identity(), verification).status();
  }

  // The test file with its header replaced by `header` (sections stay where they are).
  std::string WithHeader(const snapshot::SnapshotHeader& header) {
    absl::StatusOr<std::string> head = EncodeSnapshotHeader(header);
    EXPECT_TRUE(head.ok()) << head.status();
    const uint64_t data_start = header_.section(0).offset();
    EXPECT_LE(head->size(), data_start);
    return *head + std::string(data_start - head->size(), '\0') + bytes_.substr(data_start);
  }

  // End of the preamble + header region.
  uint64_t HeaderEnd() const { return kSnapshotPreambleSize + header_.ByteSizeLong(); }

  TempDir dir_;
  std::string path_;
  std::string bytes_;
  snapshot::SnapshotHeader header_;
};

// ---- Round trips ---------------------------------------------------------------------------

TEST_F(SnapshotFileTest, RoundTripsSectionsAlignedAndZeroCopy) {
  for (SectionVerification verification :
       {SectionVerification::kVerify, SectionVerification::kTrust}) {
    absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
        MappedSnapshot::Open(path_, Identity(), verification);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    const snapshot::SnapshotHeader& header = (*mapped)->header();
    EXPECT_EQ(header.format_version(), kSnapshotFormatVersion);
    EXPECT_EQ(header.created_unix_seconds(), 1700000000);
    EXPECT_EQ(header.module().SerializeAsString(), Identity().SerializeAsString());
    ASSERT_EQ(header.section_size(), 5);
    for (const auto& [name, bytes] : TestSections()) {
      std::optional<std::string_view> found = (*mapped)->FindSection(name);
      ASSERT_TRUE(found.has_value()) << name;
      EXPECT_EQ(*found, bytes) << name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(found->data()) % kSnapshotSectionAlignment, 0u)
          << name;
    }
    EXPECT_FALSE((*mapped)->FindSection("missing").has_value());
    EXPECT_FALSE((*mapped)->FindSection("alph").has_value());
  }
  EXPECT_EQ(bytes_.size() % kSnapshotSectionAlignment, 0u);
  EXPECT_THAT(ListDirectory(dir_.path()), UnorderedElementsAre("f.snap"));
}

TEST_F(SnapshotFileTest, LayoutMatchesTheDocumentedFormat) {
  EXPECT_EQ(bytes_.substr(0, 8), "FNHSNAP1");
  uint32_t version, header_size;
  uint64_t header_hash;
  std::memcpy(&version, bytes_.data() + 8, 4);  // The tests run on little-endian machines.
  std::memcpy(&header_size, bytes_.data() + 12, 4);
  std::memcpy(&header_hash, bytes_.data() + 16, 8);
  EXPECT_EQ(version, kSnapshotFormatVersion);
  EXPECT_EQ(header_size, header_.ByteSizeLong());
  EXPECT_EQ(header_hash, XXH3_64bits(bytes_.data() + 24, header_size));
  EXPECT_EQ(header_.section(0).offset(), kSnapshotSectionAlignment);
  for (const snapshot::Section& section : header_.section()) {
    EXPECT_EQ(section.offset() % kSnapshotSectionAlignment, 0u);
    EXPECT_EQ(section.xxh3(), XXH3_64bits(bytes_.data() + section.offset(), section.size()));
  }
  // The empty section at the end sits at the file size; the padding is zeros.
  EXPECT_EQ(header_.section(4).offset(), bytes_.size());
  EXPECT_EQ(bytes_.substr(HeaderEnd(), kSnapshotSectionAlignment - HeaderEnd()),
            std::string(kSnapshotSectionAlignment - HeaderEnd(), '\0'));
}

TEST_F(SnapshotFileTest, OpenForInspectionIgnoresIdentity) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::OpenForInspection(path_, SectionVerification::kVerify);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->header().module().module_name(), "counter");
  EXPECT_EQ((*mapped)->path(), path_);
}

TEST_F(SnapshotFileTest, AbiReaderFindsSections) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::Open(path_, Identity(), SectionVerification::kTrust);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  fnhost_host_snapshot_reader reader = (*mapped)->AsAbi();
  const void* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(reader.find_section(reader.host_data, "page", 4, &data, &size), FNHOST_STATUS_OK);
  EXPECT_EQ(std::string_view(static_cast<const char*>(data), size), Pattern(4096, 'p'));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 64, 0u);
  EXPECT_EQ(reader.find_section(reader.host_data, "pages", 5, &data, &size),
            FNHOST_STATUS_NOT_FOUND);
}

TEST(SnapshotWriterTest, AbiWriterAddsSectionsAndReportsDuplicates) {
  TempDir dir;
  std::string path = dir.File("abi.snap");
  SnapshotFileWriter writer(FileSystem::Default(), path, Identity(), absl::UnixEpoch());
  fnhost_host_snapshot_writer abi = writer.AsAbi();
  EXPECT_EQ(abi.write_section(abi.host_data, "table", 5, "abc", 3), FNHOST_STATUS_OK);
  EXPECT_EQ(abi.write_section(abi.host_data, "none", 4, nullptr, 0), FNHOST_STATUS_OK);
  EXPECT_EQ(abi.write_section(abi.host_data, "table", 5, "xyz", 3), FNHOST_STATUS_ALREADY_EXISTS);
  ASSERT_TRUE(writer.Commit().ok());
  const Sections expected = {{"table", "abc"}, {"none", ""}};
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, expected));
}

TEST(SnapshotWriterTest, RejectsDuplicatesAndUseAfterCommit) {
  TempDir dir;
  SnapshotFileWriter writer(FileSystem::Default(), dir.File("f.snap"), Identity(),
                            absl::UnixEpoch());
  ASSERT_TRUE(writer.AddSection("a", "1").ok());
  EXPECT_EQ(writer.AddSection("a", "2").code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(writer.Commit().ok());
  EXPECT_EQ(writer.AddSection("b", "3").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer.Commit().code(), absl::StatusCode::kFailedPrecondition);
  const Sections expected = {{"a", "1"}};
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(dir.File("f.snap"), expected));
}

TEST(SnapshotWriterTest, NoSectionsGivesOnePageFile) {
  TempDir dir;
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), dir.File("f.snap"), {}).ok());
  EXPECT_EQ(ReadBytes(dir.File("f.snap")).size(), kSnapshotSectionAlignment);
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(dir.File("f.snap"), {}));
}

TEST(SnapshotWriterTest, ReplacesAnOlderSnapshot) {
  TempDir dir;
  std::string path = dir.File("f.snap");
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, {{"old", "1"}}).ok());
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, {{"new", "2"}}).ok());
  const Sections expected = {{"new", "2"}};
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, expected));
  EXPECT_THAT(ListDirectory(dir.path()), UnorderedElementsAre("f.snap"));
}

TEST(SnapshotWriterTest, HeaderLargerThanAPageMovesTheSections) {
  TempDir dir;
  Sections sections;
  for (int i = 0; i < 400; ++i) {
    sections.emplace_back("section-with-a-long-name-" + std::to_string(i), Pattern(i, 's'));
  }
  std::string path = dir.File("f.snap");
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, sections).ok());
  absl::StatusOr<snapshot::SnapshotHeader> header = ParseSnapshotHeader(ReadBytes(path), path);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_GT(header->ByteSizeLong(), kSnapshotSectionAlignment);
  EXPECT_EQ(header->section(0).offset(),
            RoundUpToSectionAlignment(kSnapshotPreambleSize + header->ByteSizeLong()));
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, sections));
}

TEST(SnapshotWriterTest, NamesNeedNotBeUtf8) {
  TempDir dir;
  std::string path = dir.File("f.snap");
  snapshot::ModuleIdentity identity = Identity();
  identity.set_module_name(std::string("\xff\xfe\0m", 4));
  const std::string name("\xc3\x28\0x", 4);
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, {{name, "v"}}, identity).ok());
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::Open(path, identity, SectionVerification::kVerify);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->FindSection(name), "v");
}

TEST(InitConfigHashTest, IsXxh3OfTheConfig) {
  EXPECT_EQ(InitConfigHash(""), 0x2D06800538D394C2u);  // XXH3-64 of no bytes, seed 0.
  EXPECT_EQ(InitConfigHash("a: 1"), InitConfigHash(std::string("a: 1")));
  EXPECT_NE(InitConfigHash("a: 1"), InitConfigHash("a: 2"));
}

// ---- Failures while writing ----------------------------------------------------------------

struct Faults {
  std::optional<uint64_t> fail_append_after;  // ENOSPC once this many bytes are written.
  bool fail_create = false;
  bool fail_sync = false;
  bool fail_close = false;
  bool fail_rename = false;
  bool fail_sync_directory = false;
};

class FaultInjectingFile final : public WritableFile {
 public:
  FaultInjectingFile(std::unique_ptr<WritableFile> file, std::string path, const Faults& faults)
      : file_(std::move(file)), path_(std::move(path)), faults_(faults) {}

  absl::Status Append(std::string_view data) override {
    size_t allowed = data.size();
    if (faults_.fail_append_after.has_value()) {
      allowed = std::min<uint64_t>(allowed, *faults_.fail_append_after - written_);
    }
    if (absl::Status status = file_->Append(data.substr(0, allowed)); !status.ok()) return status;
    written_ += allowed;
    if (allowed < data.size()) return ErrnoError(ENOSPC, "write", path_);
    return absl::OkStatus();
  }
  absl::Status AppendZeros(uint64_t size) override { return Append(std::string(size, '\0')); }
  absl::Status Sync() override {
    if (faults_.fail_sync) return ErrnoError(EIO, "fsync", path_);
    return file_->Sync();
  }
  absl::Status Close() override {
    absl::Status status = file_->Close();
    if (faults_.fail_close) return ErrnoError(EIO, "close", path_);
    return status;
  }

 private:
  std::unique_ptr<WritableFile> file_;
  std::string path_;
  const Faults& faults_;
  uint64_t written_ = 0;
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(Faults faults) : faults_(faults) {}

  absl::StatusOr<struct stat> Stat(const std::string& path) override { return real_->Stat(path); }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return real_->ReadFile(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    created_.push_back(path);
    if (faults_.fail_create) return ErrnoError(EACCES, "create", path);
    absl::StatusOr<std::unique_ptr<WritableFile>> file = real_->NewWritableFile(path);
    if (!file.ok()) return file.status();
    return std::make_unique<FaultInjectingFile>(*std::move(file), path, faults_);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (faults_.fail_rename) return ErrnoError(EACCES, "rename", from);
    return real_->Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override { return real_->Remove(path); }
  absl::Status CreateDirectories(const std::string& path) override {
    return real_->CreateDirectories(path);
  }
  absl::Status SyncDirectory(const std::string& path) override {
    if (faults_.fail_sync_directory) return ErrnoError(EIO, "fsync directory", path);
    return real_->SyncDirectory(path);
  }

  const std::vector<std::string>& created() const { return created_; }

 private:
  FileSystem* const real_ = FileSystem::Default();
  const Faults faults_;
  std::vector<std::string> created_;
};

struct FaultCase {
  std::string name;
  Faults faults;
  absl::StatusCode expected;
  friend void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }
};

class SnapshotWriterFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(SnapshotWriterFaultTest, LeavesTheOlderSnapshotAndNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("f.snap");
  const Sections old_sections = {{"old", "previous state"}};
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, old_sections).ok());

  FaultInjectingFileSystem fs(GetParam().faults);
  absl::Status status = WriteSnapshot(&fs, path, TestSections());
  EXPECT_EQ(status.code(), GetParam().expected) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(".tmp."));
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, old_sections));
  EXPECT_THAT(ListDirectory(dir.path()), UnorderedElementsAre("f.snap"));
  ASSERT_EQ(fs.created().size(), 1u);
  EXPECT_THAT(fs.created()[0], ::testing::MatchesRegex(".*/f\\.snap\\.tmp\\.[0-9a-f]{16}"));
}

// The test file is 4 pages: header page, "alpha" (5000 bytes) over two pages, "page", "byte".
INSTANTIATE_TEST_SUITE_P(
    Faults, SnapshotWriterFaultTest,
    ::testing::Values(
        FaultCase{"DiskFullAtOnce", {.fail_append_after = 0}, absl::StatusCode::kResourceExhausted},
        FaultCase{"DiskFullInPreamble", {.fail_append_after = 10},
                  absl::StatusCode::kResourceExhausted},
        FaultCase{"DiskFullInHeaderPadding", {.fail_append_after = 3000},
                  absl::StatusCode::kResourceExhausted},
        FaultCase{"DiskFullAtFirstSection", {.fail_append_after = 4096},
                  absl::StatusCode::kResourceExhausted},
        FaultCase{"DiskFullInsideSection", {.fail_append_after = 4096 + 4500},
                  absl::StatusCode::kResourceExhausted},
        FaultCase{"DiskFullInLastPadding", {.fail_append_after = 5 * 4096 - 1},
                  absl::StatusCode::kResourceExhausted},
        FaultCase{"CreateFails", {.fail_create = true}, absl::StatusCode::kPermissionDenied},
        FaultCase{"SyncFails", {.fail_sync = true}, absl::StatusCode::kInternal},
        FaultCase{"CloseFails", {.fail_close = true}, absl::StatusCode::kInternal},
        FaultCase{"RenameFails", {.fail_rename = true}, absl::StatusCode::kPermissionDenied}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return info.param.name; });

TEST(SnapshotWriterTest, DirectorySyncFailureIsReportedAfterTheRename) {
  TempDir dir;
  const std::string path = dir.File("f.snap");
  FaultInjectingFileSystem fs(Faults{.fail_sync_directory = true});
  absl::Status status = WriteSnapshot(&fs, path, TestSections());
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir.path()));
  // The new snapshot is in place, just not known to be durable.
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, TestSections()));
  EXPECT_THAT(ListDirectory(dir.path()), UnorderedElementsAre("f.snap"));
}

TEST(SnapshotWriterTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  absl::Status status =
      WriteSnapshot(FileSystem::Default(), dir.File("no/such/dir/f.snap"), TestSections());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
}

// A real full disk: a 64 KiB tmpfs. Needs CAP_SYS_ADMIN; skipped without it.
TEST(SnapshotWriterTest, FullTmpfsLeavesTheOlderSnapshot) {
  TempDir dir;
  const std::string mount_point = dir.File("tmpfs");
  ASSERT_EQ(::mkdir(mount_point.c_str(), 0700), 0);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the injected ENOSPC cases cover the same paths";
  }
  absl::Cleanup unmount = [&] { ::umount(mount_point.c_str()); };
  const std::string path = mount_point + "/f.snap";
  const Sections old_sections = {{"old", Pattern(4096, 'o')}};
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, old_sections).ok());

  absl::Status status =
      WriteSnapshot(FileSystem::Default(), path, {{"big", Pattern(128 * 1024, 'b')}});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  ASSERT_NO_FATAL_FAILURE(ExpectSnapshotHolds(path, old_sections));
  EXPECT_THAT(ListDirectory(mount_point), UnorderedElementsAre("f.snap"));
}

// ---- Damaged and foreign files -------------------------------------------------------------

TEST_F(SnapshotFileTest, TruncationInThePreambleAndHeaderRegionIsDetected) {
  // Every length up to the first section, which also covers the zero padding.
  for (uint64_t size = 0; size < header_.section(0).offset(); ++size) {
    absl::StatusOr<snapshot::SnapshotHeader> header =
        ParseSnapshotHeader(std::string_view(bytes_).substr(0, size), "t");
    ASSERT_EQ(header.status().code(), absl::StatusCode::kDataLoss) << size;
  }
  // And through real files at every byte of the preamble and header.
  for (uint64_t size = 0; size <= HeaderEnd(); ++size) {
    absl::Status status = OpenBytes(bytes_.substr(0, size));
    ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << size << ": " << status;
  }
  EXPECT_THAT(std::string(OpenBytes("").message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(OpenBytes(bytes_.substr(0, 10)).message()), HasSubstr("preamble"));
  EXPECT_THAT(std::string(OpenBytes(bytes_.substr(0, HeaderEnd() - 1)).message()),
              HasSubstr("runs past the end"));
}

TEST_F(SnapshotFileTest, TruncationAtEverySectionBoundaryIsDetected) {
  std::set<uint64_t> cuts;
  for (const snapshot::Section& section : header_.section()) {
    cuts.insert(section.offset());
    cuts.insert(section.offset() + section.size());
    cuts.insert(section.offset() + section.size() / 2);
    cuts.insert(RoundUpToSectionAlignment(section.offset() + section.size()) - 1);
  }
  cuts.erase(bytes_.size());
  for (uint64_t cut : cuts) {
    absl::Status status = OpenBytes(bytes_.substr(0, cut), SectionVerification::kTrust);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << cut << ": " << status;
  }
  EXPECT_THAT(std::string(OpenBytes(bytes_.substr(0, 3 * 4096)).message()),
              HasSubstr("section 'page' [12288, +4096) runs past the end of the 12288-byte file"));
}

TEST_F(SnapshotFileTest, FlippedPreambleByteIsDetected) {
  for (uint64_t i = 0; i < kSnapshotPreambleSize; ++i) {
    std::string bytes = bytes_;
    bytes[i] ^= 0x01;
    absl::Status status = OpenBytes(bytes, SectionVerification::kTrust);
    // The version bytes name the version; everything else is damage.
    absl::StatusCode expected = (i >= 8 && i < 12) ? absl::StatusCode::kFailedPrecondition
                                                   : absl::StatusCode::kDataLoss;
    EXPECT_EQ(status.code(), expected) << i << ": " << status;
  }
}

TEST_F(SnapshotFileTest, FlippedHeaderByteIsDetected) {
  for (uint64_t i = kSnapshotPreambleSize; i < HeaderEnd(); ++i) {
    std::string bytes = bytes_;
    bytes[i] ^= 0x20;
    absl::Status status = OpenBytes(bytes, SectionVerification::kTrust);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << i << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("header checksum mismatch")) << i;
  }
}

TEST_F(SnapshotFileTest, FlippedSectionByteIsDetectedOnlyWithVerify) {
  const snapshot::Section& page = header_.section(2);
  ASSERT_EQ(page.name(), "page");
  std::string bytes = bytes_;
  bytes[page.offset() + 1234] ^= 0x01;
  absl::Status status = OpenBytes(bytes, SectionVerification::kVerify);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("section 'page'"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("checksum mismatch"));

  // By design kTrust reads no section bytes at open, so the damage reaches the reader.
  std::string path = dir_.Write("trusted.snap", bytes, 0600);
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::Open(path, Identity(), SectionVerification::kTrust);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  std::optional<std::string_view> section = (*mapped)->FindSection("page");
  ASSERT_TRUE(section.has_value());
  EXPECT_NE(*section, Pattern(4096, 'p'));
  EXPECT_EQ((*section)[1234], static_cast<char>(Pattern(4096, 'p')[1234] ^ 0x01));
}

TEST_F(SnapshotFileTest, PaddingIsNotChecked) {
  std::string bytes = bytes_;
  bytes[HeaderEnd() + 1] = 'z';
  bytes[header_.section(0).offset() + 5000 + 7] = 'z';
  EXPECT_TRUE(OpenBytes(bytes, SectionVerification::kVerify).ok());
}

TEST_F(SnapshotFileTest, WrongMagicIsRejected) {
  std::string bytes = bytes_;
  bytes.replace(0, 8, "FNHSNAP2");
  absl::Status status = OpenBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad magic"));
}

TEST_F(SnapshotFileTest, FutureFormatVersionIsRejected) {
  snapshot::SnapshotHeader header = header_;
  header.set_format_version(kSnapshotFormatVersion + 1);
  absl::Status status = OpenBytes(WithHeader(header));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("format version 2; this build reads version 1"));
}

TEST_F(SnapshotFileTest, HeaderVersionDisagreeingWithPreambleIsRejected) {
  snapshot::SnapshotHeader header = header_;
  header.set_format_version(kSnapshotFormatVersion + 1);
  std::string bytes = WithHeader(header);
  bytes[8] = static_cast<char>(kSnapshotFormatVersion);  // Preamble back to 1; header says 2.
  absl::Status status = OpenBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("header says format version 2"));
}

TEST_F(SnapshotFileTest, HeaderLengthBeyondTheFileIsRejected) {
  const auto just_too_long = static_cast<uint32_t>(bytes_.size() - kSnapshotPreambleSize + 1);
  for (uint32_t length : {just_too_long, uint32_t{1} << 30, ~uint32_t{0}}) {
    std::string bytes = bytes_;
    std::memcpy(bytes.data() + 12, &length, 4);
    absl::Status status = OpenBytes(bytes);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("runs past the end")) << length;
  }
}

TEST_F(SnapshotFileTest, UnparseableHeaderWithValidChecksumIsRejected) {
  std::string bytes = bytes_;
  const uint64_t garbage_end = HeaderEnd();
  for (uint64_t i = kSnapshotPreambleSize; i < garbage_end; ++i) bytes[i] = '\xff';
  const uint64_t hash = XXH3_64bits(bytes.data() + kSnapshotPreambleSize,
                                    garbage_end - kSnapshotPreambleSize);
  std::memcpy(bytes.data() + 16, &hash, 8);
  absl::Status status = OpenBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("does not parse"));
}

struct TableCase {
  std::string name;
  std::function<void(snapshot::SnapshotHeader&)> mutate;
  std::string message;
  friend void PrintTo(const TableCase& c, std::ostream* os) { *os << c.name; }
};

class SectionTableTest : public SnapshotFileTest,
                         public ::testing::WithParamInterface<TableCase> {};

TEST_P(SectionTableTest, IsRejected) {
  snapshot::SnapshotHeader header = header_;
  GetParam().mutate(header);
  absl::Status status = OpenBytes(WithHeader(header), SectionVerification::kTrust);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

// Sections of the test file: 0 alpha @4096 (5000 bytes), 1 empty @12288, 2 page @12288,
// 3 byte @16384, 4 tail @20480 = file size.
INSTANTIATE_TEST_SUITE_P(
    Cases, SectionTableTest,
    ::testing::Values(
        TableCase{"Unaligned",
                  [](auto& h) { h.mutable_section(2)->set_offset(12288 + 64); },
                  "section 'page' [12352, +4096) is not aligned to 4096 bytes"},
        TableCase{"InsideHeader", [](auto& h) { h.mutable_section(0)->set_offset(0); },
                  "overlaps the header"},
        TableCase{"OffsetBeyondFile",
                  [](auto& h) { h.mutable_section(3)->set_offset(1u << 20); },
                  "section 'byte' [1048576, +1) runs past the end"},
        TableCase{"SizeBeyondFile", [](auto& h) { h.mutable_section(3)->set_size(4097); },
                  "section 'byte' [16384, +4097) runs past the end"},
        TableCase{"SizeOverflowsOffset",
                  [](auto& h) { h.mutable_section(3)->set_size(~uint64_t{0} - 100); },
                  "runs past the end"},
        TableCase{"EmptyOffsetBeyondFile",
                  [](auto& h) { h.mutable_section(4)->set_offset(20480 + 4096); },
                  "section 'tail' [24576, +0) runs past the end"},
        TableCase{"Overlapping",
                  [](auto& h) { h.mutable_section(2)->set_offset(8192); },
                  "section 'alpha' [4096, +5000) overlaps section 'page' [8192, +4096)"},
        TableCase{"SameOffset",
                  [](auto& h) { h.mutable_section(3)->set_offset(12288); },
                  "section 'byte' [12288, +1) overlaps section 'page' [12288, +4096)"},
        TableCase{"DuplicateName",
                  [](auto& h) { h.mutable_section(3)->set_name("alpha"); },
                  "duplicate section 'alpha'"}),
    [](const ::testing::TestParamInfo<TableCase>& info) { return info.param.name; });

struct IdentityCase {
  std::string field;
  std::function<void(snapshot::ModuleIdentity&)> mutate;
  std::string message;
  friend void PrintTo(const IdentityCase& c, std::ostream* os) { *os << c.field; }
};

class IdentityMismatchTest : public SnapshotFileTest,
                             public ::testing::WithParamInterface<IdentityCase> {};

TEST_P(IdentityMismatchTest, NamesTheField) {
  snapshot::ModuleIdentity expected = Identity();
  GetParam().mutate(expected);
  absl::Status status =
      MappedSnapshot::Open(path_, expected, SectionVerification::kTrust).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path_));
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, IdentityMismatchTest,
    ::testing::Values(
        IdentityCase{"build_id", [](auto& i) { i.clear_build_id(); },
                     "was built by a module with build_id "
                     "'0123456789abcdef0123456789abcdef01234567'; this module has build_id "
                     "(none)"},
        IdentityCase{"sha256", [](auto& i) { i.set_sha256("cd34"); },
                     "was built by a module with sha256 "
                     "'ab12000000000000000000000000000000000000000000000000000000000000'; this "
                     "module has sha256 'cd34'"},
        IdentityCase{"abi_version", [](auto& i) { i.set_abi_version(2); },
                     "abi_version 1; this module has abi_version 2"},
        IdentityCase{"sdk_version", [](auto& i) { i.set_sdk_version(4); },
                     "sdk_version 3; this module has sdk_version 4"},
        IdentityCase{"module_name", [](auto& i) { i.set_module_name("other"); },
                     "module_name 'counter'; this module has module_name 'other'"},
        IdentityCase{"module_version", [](auto& i) { i.set_module_version("1.3.0"); },
                     "module_version '1.2.0'; this module has module_version '1.3.0'"},
        IdentityCase{"init_config_hash", [](auto& i) { i.set_init_config_hash(0xabc); },
                     "; this init config has hash abc"}),
    [](const ::testing::TestParamInfo<IdentityCase>& info) { return info.param.field; });

TEST(IdentityTest, EveryFieldIsCompared) {
  // CheckIdentity in mapped_snapshot.cc lists the fields one by one: extend it (and the cases
  // above) when ModuleIdentity grows.
  EXPECT_EQ(snapshot::ModuleIdentity::descriptor()->field_count(), 7);
}

TEST_F(SnapshotFileTest, GarbageAndShortFilesAreRejected) {
  std::string garbage(3 * 4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 131 + 17);
  absl::Status status = OpenBytes(garbage);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad magic"));

  status = OpenBytes("");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad.snap: the file is empty"));

  status = OpenBytes("FNHSNAP1");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

TEST_F(SnapshotFileTest, MissingFileAndDirectoryAreRejected) {
  absl::Status status =
      MappedSnapshot::Open(dir_.File("none.snap"), Identity(), SectionVerification::kVerify)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("none.snap"));
  status = MappedSnapshot::Open(dir_.path(), Identity(), SectionVerification::kVerify).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a regular file"));
}

TEST_F(SnapshotFileTest, UnreadableDirectoryIsPermissionDenied) {
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0), 0);
  absl::Cleanup restore = [&] { ::chmod(dir_.path().c_str(), 0700); };
  // chmod does not stop root: open as an unprivileged effective user instead.
  const bool root = ::geteuid() == 0;
  if (root && ::seteuid(65534) != 0) {
    GTEST_SKIP() << "running as root, where chmod 000 does not deny access, and cannot drop to "
                    "uid 65534: "
                 << std::strerror(errno);
  }
  absl::Status status = MappedSnapshot::Open(path_, Identity(), SectionVerification::kVerify)
                            .status();
  if (root) ASSERT_EQ(::seteuid(0), 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(path_));
}

// ---- Private locations ---------------------------------------------------------------------

TEST(IsPrivateTest, DirectoryModesAndOwner) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  EXPECT_EQ(IsPrivateDirectory(dir.path()).value_or(false), true);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(IsPrivateDirectory(dir.path()).value_or(false), true);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0770), 0);
  EXPECT_EQ(IsPrivateDirectory(dir.path()).value_or(true), false);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0703), 0);
  EXPECT_EQ(IsPrivateDirectory(dir.path()).value_or(true), false);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);

  EXPECT_EQ(IsPrivateDirectory(dir.File("missing")).status().code(),
            absl::StatusCode::kNotFound);
  std::string file = dir.Write("f", "x", 0600);
  EXPECT_EQ(IsPrivateDirectory(file).status().code(), absl::StatusCode::kFailedPrecondition);

  if (::geteuid() == 0) {  // Only root can give a directory away.
    std::string other = dir.File("other");
    ASSERT_EQ(::mkdir(other.c_str(), 0700), 0);
    ASSERT_EQ(::chown(other.c_str(), 65534, 65534), 0);
    EXPECT_EQ(IsPrivateDirectory(other).value_or(true), false);
  }
}

TEST(IsPrivateTest, FileModes) {
  TempDir dir;
  std::string path = dir.File("f.snap");
  ASSERT_TRUE(WriteSnapshot(FileSystem::Default(), path, {}).ok());
  EXPECT_EQ(IsPrivateFile(path).value_or(false), true);  // The writer creates it 0600.
  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  EXPECT_EQ(IsPrivateFile(path).value_or(true), false);
  ASSERT_EQ(::chmod(path.c_str(), 0602), 0);
  EXPECT_EQ(IsPrivateFile(path).value_or(true), false);
  EXPECT_EQ(IsPrivateFile(dir.path()).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fnhost
