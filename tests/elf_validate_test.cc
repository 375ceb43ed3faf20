// Each refusal of the load checks (src/loader/elf_validate.h), on a copy of a real module with
// one field damaged, and its exact message. Every one of these files would make glibc's loader
// fault, abort or write outside the module if it were dlopened.

#include <elf.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/loader/elf_info.h"
#include "tests/support/elf_test_util.h"

namespace fnhost {
namespace {

using ::testing::MatchesRegex;
using testing::ElfFile;

absl::Status Parse(const ElfFile& file) { return ParseElfInfo(file.bytes, "m.so").status(); }

void ExpectRefused(const ElfFile& file, absl::StatusCode code, const std::string& message) {
  const absl::Status status = Parse(file);
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_EQ(status.message(), "m.so: " + message);
}

class ElfValidateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Parse(file_).ok()) << Parse(file_); }

  int Load(int nth) const { return file_.IndexOf(PT_LOAD, nth); }
  int LastLoad() const {
    int last = -1;
    for (int i = 0; i < file_.segment_count(); ++i) {
      if (file_.Segment(i).p_type == PT_LOAD) last = i;
    }
    return last;
  }

  ElfFile file_ = ElfFile::OfTestModule("hello");
};

TEST_F(ElfValidateTest, SegmentPastTheEndOfTheFile) {
  const Elf64_Phdr last = file_.Segment(LastLoad());
  const uint64_t end = last.p_offset + last.p_filesz;
  file_.bytes.resize(end - 1);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("truncated ELF (segment ", LastLoad(), " ends at byte ", end,
                             " but the file has ", end - 1, " bytes)"));
}

TEST_F(ElfValidateTest, SegmentWhoseEndOverflows) {
  Elf64_Phdr text = file_.Segment(Load(1));
  text.p_filesz = std::numeric_limits<uint64_t>::max() - 10;
  file_.SetSegment(Load(1), text);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", Load(1), " has offset ", text.p_offset, " and size ",
                             text.p_filesz, ", which overflow"));
}

TEST_F(ElfValidateTest, LoadWithMoreFileBytesThanMemory) {
  Elf64_Phdr data = file_.Segment(LastLoad());
  data.p_memsz = data.p_filesz - 1;
  file_.SetSegment(LastLoad(), data);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", LastLoad(), " (PT_LOAD) has ", data.p_filesz,
                             " bytes in the file but ", data.p_memsz, " in memory"));
}

TEST_F(ElfValidateTest, LoadAlignmentNotAPowerOfTwo) {
  Elf64_Phdr text = file_.Segment(Load(1));
  text.p_align = 3;
  file_.SetSegment(Load(1), text);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", Load(1), " (PT_LOAD) has alignment 3, not a power of two"));
}

TEST_F(ElfValidateTest, LoadAddressAndOffsetDifferModuloTheAlignment) {
  Elf64_Phdr text = file_.Segment(Load(1));
  text.p_vaddr += 0x10;
  file_.SetSegment(Load(1), text);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", Load(1), " (PT_LOAD) has address 0x",
                             absl::Hex(text.p_vaddr), " and offset 0x", absl::Hex(text.p_offset),
                             ", which differ modulo its alignment 0x", absl::Hex(text.p_align)));
}

// glibc reserves the image from the first PT_LOAD to the end of the last and maps each segment
// at a fixed address inside it: out of order, a segment would land on someone else's memory.
TEST_F(ElfValidateTest, LoadsOutOfOrder) {
  const Elf64_Phdr first = file_.Segment(Load(1));
  const Elf64_Phdr second = file_.Segment(Load(2));
  file_.SetSegment(Load(1), second);
  file_.SetSegment(Load(2), first);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", Load(2), " (PT_LOAD) starts at address 0x",
                             absl::Hex(first.p_vaddr),
                             ", before the previous PT_LOAD segment ends (0x",
                             absl::Hex(second.p_vaddr + second.p_memsz), ")"));
}

TEST_F(ElfValidateTest, NoLoadSegment) {
  for (int i = 0; i < file_.segment_count(); ++i) {
    if (file_.Segment(i).p_type == PT_LOAD) file_.Patch<uint32_t>(file_.SegmentOffset(i), PT_NULL);
  }
  ExpectRefused(file_, absl::StatusCode::kFailedPrecondition,
                "has no PT_LOAD segment, nothing to map");
}

TEST_F(ElfValidateTest, DynamicSegmentOutsideTheLoadedBytes) {
  const int index = file_.IndexOf(PT_DYNAMIC);
  Elf64_Phdr dynamic = file_.Segment(index);
  dynamic.p_vaddr += 0x100000;
  file_.SetSegment(index, dynamic);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", index,
                             " (PT_DYNAMIC) is not inside the file bytes of a PT_LOAD segment"));
}

// glibc reads dynamic entries until DT_NULL, whatever the segment's size.
TEST_F(ElfValidateTest, DynamicSectionWithoutTerminator) {
  const int index = file_.IndexOf(PT_DYNAMIC);
  const Elf64_Phdr dynamic = file_.Segment(index);
  for (size_t offset = dynamic.p_offset; offset < dynamic.p_offset + dynamic.p_filesz;
       offset += sizeof(Elf64_Dyn)) {
    if (file_.Read<Elf64_Dyn>(offset).d_tag == DT_NULL) file_.Patch<int64_t>(offset, DT_DEBUG);
  }
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("the dynamic section in segment ", index, " has no DT_NULL entry"));
}

// glibc mprotects the RELRO range after relocation: outside the image, that is someone else's
// memory.
TEST_F(ElfValidateTest, RelroOutsideTheImage) {
  const int index = file_.IndexOf(PT_GNU_RELRO);
  Elf64_Phdr relro = file_.Segment(index);
  relro.p_vaddr = 0x10000000;
  file_.SetSegment(index, relro);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", index, " (PT_GNU_RELRO) is not inside a PT_LOAD segment"));
}

TEST_F(ElfValidateTest, ThreadLocalBlockTooLarge) {
  const int index = file_.IndexOf(PT_GNU_STACK);
  Elf64_Phdr tls = file_.Segment(index);
  tls.p_type = PT_TLS;
  tls.p_memsz = uint64_t{1} << 40;
  file_.SetSegment(index, tls);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("segment ", index, " (PT_TLS) has 0 bytes in the file, ",
                             tls.p_memsz, " in memory and alignment ", tls.p_align,
                             "; the loader needs file <= memory <= 1 GiB and a power-of-two "
                             "alignment <= 1 MiB"));
}

// glibc parses the first GNU property note in place and reads its descriptor whole.
TEST_F(ElfValidateTest, PropertyNoteRunningPastItsSegment) {
  const int index = file_.IndexOf(PT_NOTE);
  Elf64_Phdr note = file_.Segment(index);  // the build id: "GNU", 20 bytes
  note.p_type = PT_GNU_PROPERTY;
  note.p_align = 8;
  file_.SetSegment(index, note);
  Elf64_Nhdr header = file_.Read<Elf64_Nhdr>(note.p_offset);
  header.n_type = NT_GNU_PROPERTY_TYPE_0;
  header.n_descsz = 64;
  file_.Patch(note.p_offset, header);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("the GNU property note in segment ", index,
                             " (PT_GNU_PROPERTY) runs past the segment's end"));
}

// The next four (and the Bloom filter of three words) would trip an assertion in ld.so, which
// ends the process.
TEST_F(ElfValidateTest, PltRelocationsOfTheWrongKind) {
  file_.SetDynamic(DT_PLTREL, DT_REL);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "DT_PLTREL is 17, this machine's loader needs DT_RELA (7)");
}

TEST_F(ElfValidateTest, RelocationEntriesOfTheWrongSize) {
  file_.SetDynamic(DT_RELAENT, 16);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument, "DT_RELA without a DT_RELAENT of 24");
}

TEST_F(ElfValidateTest, RelRelocations) {
  file_.Patch<int64_t>(file_.DynamicEntryOffset(DT_RELACOUNT), DT_REL);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "has DT_REL relocations, which this machine's loader does not apply");
}

TEST_F(ElfValidateTest, GnuHashWithABloomFilterOfThreeWords) {
  const size_t table = file_.FileOffsetOf(file_.DynamicValue(DT_GNU_HASH));
  const uint32_t buckets = file_.Read<uint32_t>(table);
  file_.Patch<uint32_t>(table + 8, 3);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("DT_GNU_HASH has ", buckets, " buckets and 3 Bloom filter words; the "
                             "loader needs at least one bucket and a power of two of words"));
}

// With no bucket no symbol can be found, the module's entry neither.
TEST_F(ElfValidateTest, GnuHashWithoutBuckets) {
  const size_t table = file_.FileOffsetOf(file_.DynamicValue(DT_GNU_HASH));
  const uint32_t words = file_.Read<uint32_t>(table + 8);
  file_.Patch<uint32_t>(table, 0);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("DT_GNU_HASH has 0 buckets and ", words, " Bloom filter words; the "
                             "loader needs at least one bucket and a power of two of words"));
}

TEST_F(ElfValidateTest, NoSymbolTable) {
  file_.Patch<int64_t>(file_.DynamicEntryOffset(DT_SYMTAB), DT_DEBUG);
  ExpectRefused(file_, absl::StatusCode::kFailedPrecondition,
                "has no dynamic symbol table (DT_SYMTAB), so it exports nothing");
}

// glibc writes every relocation at load address + r_offset, wherever that is.
TEST_F(ElfValidateTest, RelocationOutsideTheImage) {
  const size_t first = file_.FileOffsetOf(file_.DynamicValue(DT_RELA));
  file_.Patch<uint64_t>(first + offsetof(Elf64_Rela, r_offset), 0x10000000);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "relocation 0 of DT_RELA writes at 0x10000000, outside the module's segments");
}

TEST_F(ElfValidateTest, RelocationOfASymbolPastTheTable) {
  const size_t first = file_.FileOffsetOf(file_.DynamicValue(DT_JMPREL));
  const Elf64_Rela rela = file_.Read<Elf64_Rela>(first);
  file_.Patch<uint64_t>(first + offsetof(Elf64_Rela, r_info),
                        ELF64_R_INFO(0xffffff, ELF64_R_TYPE(rela.r_info)));
  // The symbols that fit between DT_SYMTAB and the end of its segment's file bytes.
  const uint64_t symtab = file_.DynamicValue(DT_SYMTAB);
  const Elf64_Phdr segment = file_.Segment(Load(0));
  const uint64_t fit = (segment.p_vaddr + segment.p_filesz - symtab) / sizeof(Elf64_Sym);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("relocation 0 of DT_JMPREL names symbol 16777215, past the end of "
                             "the symbol table (",
                             fit, " symbols fit)"));
}

// ld.so asserts that a version need names one of the object's dependencies.
TEST_F(ElfValidateTest, VersionNeedOfALibraryThatIsNotADependency) {
  const size_t need = file_.FileOffsetOf(file_.DynamicValue(DT_VERNEED));
  const Elf64_Verneed first = file_.Read<Elf64_Verneed>(need);
  const Elf64_Vernaux version = file_.Read<Elf64_Vernaux>(need + first.vn_aux);
  file_.Patch<uint32_t>(need + offsetof(Elf64_Verneed, vn_file), version.vna_name);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("DT_VERNEED names ", file_.DynamicString(version.vna_name),
                             ", which is not a DT_NEEDED library"));
}

// The loader indexes its array of versions with the symbol's version index, unchecked.
TEST_F(ElfValidateTest, SymbolVersionPastTheModulesVersions) {
  const Elf64_Rela rela =
      file_.Read<Elf64_Rela>(file_.FileOffsetOf(file_.DynamicValue(DT_JMPREL)));
  const uint64_t symbol = ELF64_R_SYM(rela.r_info);
  file_.Patch<uint16_t>(file_.FileOffsetOf(file_.DynamicValue(DT_VERSYM) + 2 * symbol), 0x7fff);
  const absl::Status status = Parse(file_);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              MatchesRegex(absl::StrCat("m.so: symbol ", symbol, " has version index 32767, but "
                                        "the module's versions end at [0-9]+")));
}

// ld.so reads a table's size without checking that the entry is there.
TEST_F(ElfValidateTest, PltRelocationsWithoutTheirSize) {
  file_.Patch<int64_t>(file_.DynamicEntryOffset(DT_PLTRELSZ), DT_DEBUG);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument, "DT_JMPREL without DT_PLTRELSZ");
}

// Only DT_TEXTREL makes the loader unprotect a read-only segment for relocation.
TEST_F(ElfValidateTest, RelocationIntoReadOnlyCode) {
  const size_t first = file_.FileOffsetOf(file_.DynamicValue(DT_RELA));
  const uint64_t code = file_.Segment(Load(1)).p_vaddr;
  file_.Patch<uint64_t>(first + offsetof(Elf64_Rela, r_offset), code);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("relocation 0 of DT_RELA writes at 0x", absl::Hex(code),
                             ", in a read-only segment, and the module has no DT_TEXTREL"));
}

// ld.so asserts that the first DT_RELACOUNT relocations are relative.
TEST_F(ElfValidateTest, RelativeCountLargerThanTheRelocations) {
  const uint64_t count = file_.DynamicValue(DT_RELASZ) / sizeof(Elf64_Rela);
  file_.SetDynamic(DT_RELACOUNT, count + 1);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("DT_RELACOUNT is ", count + 1, " but DT_RELA holds ", count,
                             " relocations"));
}

TEST_F(ElfValidateTest, RelativeRelocationPointingOutsideTheModule) {
  const size_t first = file_.FileOffsetOf(file_.DynamicValue(DT_RELA));
#if defined(__x86_64__)
  ASSERT_EQ(ELF64_R_TYPE(file_.Read<Elf64_Rela>(first).r_info), R_X86_64_RELATIVE);
#else
  ASSERT_EQ(ELF64_R_TYPE(file_.Read<Elf64_Rela>(first).r_info), R_AARCH64_RELATIVE);
#endif
  file_.Patch<int64_t>(first + offsetof(Elf64_Rela, r_addend), 0x10000000);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "relocation 0 of DT_RELA points to 0x10000000, outside the module");
}

TEST_F(ElfValidateTest, VersionNeedCountThatDisagreesWithTheChain) {
  const uint64_t count = file_.DynamicValue(DT_VERNEEDNUM);
  file_.SetDynamic(DT_VERNEEDNUM, 1000);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("DT_VERNEEDNUM is 1000 but the chain has ", count, " entries"));
}

// ld.so takes the address of DT_VERSYM once the module has versions, without checking it.
TEST_F(ElfValidateTest, VersionsWithoutVersionSymbols) {
  file_.Patch<int64_t>(file_.DynamicEntryOffset(DT_VERSYM), DT_DEBUG);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "has versions (DT_VERDEF, DT_VERNEED) but no DT_VERSYM");
}

// The loader calls every constructor: a relocated pointer outside the code would crash it.
TEST_F(ElfValidateTest, ConstructorOutsideTheCode) {
  const uint64_t constructors = file_.DynamicValue(DT_INIT_ARRAY);
  const size_t relocations = file_.FileOffsetOf(file_.DynamicValue(DT_RELA));
  const uint64_t count = file_.DynamicValue(DT_RELASZ) / sizeof(Elf64_Rela);
  for (uint64_t i = 0; i < count; ++i) {
    const size_t entry = relocations + i * sizeof(Elf64_Rela);
    if (file_.Read<Elf64_Rela>(entry).r_offset != constructors) continue;
    file_.Patch<int64_t>(entry + offsetof(Elf64_Rela, r_addend), 0);  // the ELF header
    ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                  "DT_INIT_ARRAY entry 0 points to 0x0, not into the module's code");
    return;
  }
  ADD_FAILURE() << "no relocation of the first constructor";
}

TEST_F(ElfValidateTest, ExportedFunctionOutsideTheCode) {
  // The one hashed symbol: the module's entry, a function.
  const size_t table = file_.FileOffsetOf(file_.DynamicValue(DT_GNU_HASH));
  const uint32_t symbias = file_.Read<uint32_t>(table + 4);
  const size_t symbol = file_.FileOffsetOf(file_.DynamicValue(DT_SYMTAB)) +
                        symbias * sizeof(Elf64_Sym);
  ASSERT_EQ(file_.DynamicString(file_.Read<Elf64_Sym>(symbol).st_name), "fnhost_module_entry");
  file_.Patch<uint64_t>(symbol + offsetof(Elf64_Sym, st_value), 0);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                absl::StrCat("symbol ", symbias, " is defined at 0x0, outside the module's code"));
}

TEST_F(ElfValidateTest, InitFunctionOutsideTheCode) {
  file_.SetDynamic(DT_INIT, 0);
  ExpectRefused(file_, absl::StatusCode::kInvalidArgument,
                "DT_INIT 0x0 is not in an executable segment");
}

}  // namespace
}  // namespace fnhost
