// Tests of ReadElfInfo / ParseElfInfo on a real module, on files that are not modules, and on
// damaged copies of a module (every truncation, patched header fields and dynamic entries).

#include "src/loader/elf_info.h"

#include <elf.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/file_system.h"
#include "tests/support/elf_test_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::string ReadModuleBytes() { return testing::ElfFile::OfTestModule("hello").bytes; }
Elf64_Ehdr HeaderOf(const std::string& bytes) { return testing::ElfFile{bytes}.header(); }
// Offset in the file of the first program header of `type`.
size_t ProgramHeaderOffset(const std::string& bytes, uint32_t type) {
  const testing::ElfFile file{bytes};
  return file.SegmentOffset(file.IndexOf(type));
}
// Offset in the file of the first dynamic entry with `tag`.
size_t DynamicEntryOffset(const std::string& bytes, int64_t tag) {
  return testing::ElfFile{bytes}.DynamicEntryOffset(tag);
}

template <typename T>
void Patch(std::string& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(value));
}

TEST(ElfInfoTest, ReadsTheTestModule) {
  const std::string path = testing::TestModule("hello");
  absl::StatusOr<ElfInfo> info = ReadElfInfo(path);
  ASSERT_TRUE(info.ok()) << info.status();
  // fnhost_add_module links with --build-id=sha1: 20 bytes.
  EXPECT_THAT(info->build_id, MatchesRegex("[0-9a-f]{40}"));
  EXPECT_THAT(info->needed, Contains(StartsWith("libstdc++.so")));
  EXPECT_THAT(info->needed, Contains("libc.so.6"));
  EXPECT_EQ(info->soname, "");
  EXPECT_EQ(info->file_size, ReadModuleBytes().size());
}

TEST(ElfInfoTest, ParsesUnalignedBytes) {
  const std::string bytes = ReadModuleBytes();
  const std::string shifted = "x" + bytes;
  absl::StatusOr<ElfInfo> aligned = ParseElfInfo(bytes, "hello.so");
  absl::StatusOr<ElfInfo> unaligned =
      ParseElfInfo(std::string_view(shifted).substr(1), "hello.so");
  ASSERT_TRUE(aligned.ok()) << aligned.status();
  ASSERT_TRUE(unaligned.ok()) << unaligned.status();
  EXPECT_EQ(unaligned->build_id, aligned->build_id);
  EXPECT_EQ(unaligned->needed, aligned->needed);
}

TEST(ElfInfoTest, RejectsAnExecutable) {
  absl::StatusOr<ElfInfo> info = ReadElfInfo("/bin/true");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("/bin/true: is an executable, not a shared object"));
}

TEST(ElfInfoTest, RejectsFilesThatAreNotElf) {
  testing::TempDir dir;
  const std::string text = dir.Write("module.so", "#!/bin/sh\necho not a module\n");
  absl::StatusOr<ElfInfo> info = ReadElfInfo(text);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(), text + ": not an ELF file (bad magic)");

  const std::string empty = dir.Write("empty.so", "");
  info = ReadElfInfo(empty);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(), empty + ": not an ELF file (empty)");

  info = ReadElfInfo(dir.path());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(info.status().message(), dir.path() + ": is a directory, not an ELF file");

  info = ReadElfInfo(dir.File("missing.so"));
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr(dir.File("missing.so")));
}

TEST(ElfInfoTest, RejectsAnotherMachine) {
#if defined(__x86_64__)
  constexpr uint16_t kOtherMachine = EM_AARCH64;
  constexpr const char* kMessage = ": ELF for machine aarch64 (183), this host is x86-64 (62)";
#else
  constexpr uint16_t kOtherMachine = EM_X86_64;
  constexpr const char* kMessage = ": ELF for machine x86-64 (62), this host is aarch64 (183)";
#endif
  std::string bytes = ReadModuleBytes();
  Patch<uint16_t>(bytes, offsetof(Elf64_Ehdr, e_machine), kOtherMachine);
  testing::TempDir dir;
  const std::string path = dir.Write("other.so", bytes);
  absl::StatusOr<ElfInfo> info = ReadElfInfo(path);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(info.status().message(), path + kMessage);
}

TEST(ElfInfoTest, RejectsOtherClassesOrdersAndTypes) {
  const std::string original = ReadModuleBytes();
  struct Case {
    size_t offset;
    int size;  // bytes of `value` to write
    uint16_t value;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {EI_CLASS, 1, ELFCLASS32, absl::StatusCode::kFailedPrecondition,
       "m.so: 32-bit ELF, this host needs 64-bit ELF"},
      {EI_CLASS, 1, 9, absl::StatusCode::kInvalidArgument, "m.so: bad ELF class 9"},
      {EI_DATA, 1, ELFDATA2MSB, absl::StatusCode::kFailedPrecondition,
       "m.so: big-endian ELF, this host is little-endian"},
      {EI_VERSION, 1, 0, absl::StatusCode::kInvalidArgument, "m.so: bad ELF version 0"},
      {offsetof(Elf64_Ehdr, e_type), 2, ET_EXEC, absl::StatusCode::kFailedPrecondition,
       "m.so: is an executable, not a shared object"},
      {offsetof(Elf64_Ehdr, e_type), 2, ET_REL, absl::StatusCode::kFailedPrecondition,
       "m.so: is not a shared object (ELF type 1)"},
      {offsetof(Elf64_Ehdr, e_phentsize), 2, 32, absl::StatusCode::kInvalidArgument,
       "m.so: bad program header size 32"},
      {offsetof(Elf64_Ehdr, e_phnum), 2, 0, absl::StatusCode::kFailedPrecondition,
       "m.so: has no program headers, not a shared object"},
      {offsetof(Elf64_Ehdr, e_phnum), 2, 0xffff, absl::StatusCode::kInvalidArgument,
       "m.so: truncated ELF (program header table past end of file)"},
      {offsetof(Elf64_Ehdr, e_shentsize), 2, 1, absl::StatusCode::kInvalidArgument,
       "m.so: bad section header size 1"},
      {ProgramHeaderOffset(original, PT_DYNAMIC), 4, PT_NULL,
       absl::StatusCode::kFailedPrecondition,
       "m.so: has no PT_DYNAMIC segment, not a shared object"},
  };
  for (const Case& c : cases) {
    std::string bytes = original;
    if (c.size == 1) {
      bytes[c.offset] = static_cast<char>(c.value);
    } else if (c.size == 2) {
      Patch<uint16_t>(bytes, c.offset, c.value);
    } else {
      Patch<uint32_t>(bytes, c.offset, c.value);
    }
    absl::StatusOr<ElfInfo> info = ParseElfInfo(bytes, "m.so");
    EXPECT_EQ(info.status().code(), c.code) << c.message;
    EXPECT_EQ(info.status().message(), c.message);
  }
}

TEST(ElfInfoTest, RejectsAnInterpreter) {
  std::string bytes = ReadModuleBytes();
  // Turn the GNU_STACK header into a PT_INTERP, as in a PIE executable.
  Patch<uint32_t>(bytes, ProgramHeaderOffset(bytes, PT_GNU_STACK), PT_INTERP);
  absl::StatusOr<ElfInfo> info = ParseElfInfo(bytes, "pie");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(info.status().message()), StartsWith("pie: is an executable, not a shared object"));
}

TEST(ElfInfoTest, RejectsDynamicStringsOutsideTheStringTable) {
  const std::string original = ReadModuleBytes();
  const size_t strsz = DynamicEntryOffset(original, DT_STRSZ) + offsetof(Elf64_Dyn, d_un);
  const size_t strtab = DynamicEntryOffset(original, DT_STRTAB) + offsetof(Elf64_Dyn, d_un);
  const size_t needed = DynamicEntryOffset(original, DT_NEEDED) + offsetof(Elf64_Dyn, d_un);

  std::string bytes = original;
  Patch<uint64_t>(bytes, strsz, 0);
  absl::StatusOr<ElfInfo> info = ParseElfInfo(bytes, "m.so");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(),
            "m.so: the dynamic string table (DT_STRSZ 0) does not end with a NUL byte");

  bytes = original;
  Patch<uint64_t>(bytes, strsz, uint64_t{1} << 62);
  info = ParseElfInfo(bytes, "m.so");
  EXPECT_THAT(std::string(info.status().message()),
              MatchesRegex("m.so: truncated ELF \\(DT_STRTAB of 4611686018427387904 bytes at "
                           "0x[0-9a-f]+ runs past the end of its segment\\)"));

  bytes = original;
  Patch<uint64_t>(bytes, strtab, ~uint64_t{0} - 3);
  info = ParseElfInfo(bytes, "m.so");
  EXPECT_EQ(info.status().message(), "m.so: DT_STRTAB address 0xfffffffffffffffc is in no "
                                     "PT_LOAD segment");

  bytes = original;
  Patch<uint64_t>(bytes, needed, ~uint64_t{0});
  info = ParseElfInfo(bytes, "m.so");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("DT_NEEDED string at 18446744073709551615"));
}

// A partial copy must never pass, and never read past the bytes it was given (ASan checks the
// copy, which holds exactly `length` bytes). Every length through the headers, then about 500
// more, so that the copies stay cheap under sanitizers.
TEST(ElfInfoTest, TruncationsAreErrors) {
  const std::string bytes = ReadModuleBytes();
  ASSERT_FALSE(bytes.empty());
  const Elf64_Ehdr header = HeaderOf(bytes);
  const size_t end_of_program_headers = header.e_phoff + header.e_phnum * sizeof(Elf64_Phdr);
  const size_t stride = bytes.size() / 500 + 1;
  for (size_t length = 0; length < bytes.size();
       length += length < end_of_program_headers + 256 ? 1 : stride) {
    const std::string prefix = bytes.substr(0, length);
    absl::StatusOr<ElfInfo> info = ParseElfInfo(prefix, "cut.so");
    ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << "length " << length;
    if (length >= EI_NIDENT) {
      ASSERT_THAT(std::string(info.status().message()), StartsWith("cut.so: truncated ELF"))
          << "length " << length;
    }
  }
}

TEST(ElfInfoTest, TruncatedFilesOnDiskAreErrors) {
  const std::string bytes = ReadModuleBytes();
  const Elf64_Ehdr header = HeaderOf(bytes);
  const size_t end_of_program_headers = header.e_phoff + header.e_phnum * sizeof(Elf64_Phdr);
  testing::TempDir dir;
  for (size_t length : {size_t{3}, size_t{EI_NIDENT}, sizeof(Elf64_Ehdr),
                        end_of_program_headers - 1, end_of_program_headers,
                        bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir.Write("cut.so", bytes.substr(0, length));
    absl::StatusOr<ElfInfo> info = ReadElfInfo(path);
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << "length " << length;
    EXPECT_THAT(std::string(info.status().message()), StartsWith(path + ": ")) << "length " << length;
  }
}

}  // namespace
}  // namespace fnhost
