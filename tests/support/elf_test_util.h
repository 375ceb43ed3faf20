// A test's own view of a real module's ELF headers, to damage copies of it one field at a
// time. The module is trusted here: the helpers do not bounds-check what they read.

#ifndef FNHOST_TESTS_SUPPORT_ELF_TEST_UTIL_H_
#define FNHOST_TESTS_SUPPORT_ELF_TEST_UTIL_H_

#include <elf.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost::testing {

class ElfFile {
 public:
  // The bytes of tests/modules/<name>.so.
  static ElfFile OfTestModule(const std::string& name) {
    ElfFile file;
    file.bytes = ReadFileBytes(TestModule(name));
    EXPECT_FALSE(file.bytes.empty()) << name;
    return file;
  }

  template <typename T>
  T Read(size_t offset) const {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(value));
    return value;
  }
  template <typename T>
  void Patch(size_t offset, T value) {
    std::memcpy(bytes.data() + offset, &value, sizeof(value));
  }

  Elf64_Ehdr header() const { return Read<Elf64_Ehdr>(0); }
  int segment_count() const { return header().e_phnum; }
  // Where program header `index` is in the file, and the header itself.
  size_t SegmentOffset(int index) const { return header().e_phoff + index * sizeof(Elf64_Phdr); }
  Elf64_Phdr Segment(int index) const { return Read<Elf64_Phdr>(SegmentOffset(index)); }
  void SetSegment(int index, const Elf64_Phdr& segment) { Patch(SegmentOffset(index), segment); }
  // The index of the `nth` program header of `type`; -1 (and a failure) if there is none.
  int IndexOf(uint32_t type, int nth = 0) const {
    for (int i = 0; i < segment_count(); ++i) {
      if (Segment(i).p_type == type && nth-- == 0) return i;
    }
    ADD_FAILURE() << "no program header of type " << type;
    return -1;
  }
  // The file offset of the first dynamic entry with `tag`, and its value.
  size_t DynamicEntryOffset(int64_t tag) const {
    const Elf64_Phdr dynamic = Segment(IndexOf(PT_DYNAMIC));
    for (size_t offset = dynamic.p_offset; offset < dynamic.p_offset + dynamic.p_filesz;
         offset += sizeof(Elf64_Dyn)) {
      if (Read<Elf64_Dyn>(offset).d_tag == tag) return offset;
    }
    ADD_FAILURE() << "no dynamic entry with tag " << tag;
    return 0;
  }
  uint64_t DynamicValue(int64_t tag) const {
    return Read<Elf64_Dyn>(DynamicEntryOffset(tag)).d_un.d_val;
  }
  void SetDynamic(int64_t tag, uint64_t value) {
    Patch(DynamicEntryOffset(tag) + offsetof(Elf64_Dyn, d_un), value);
  }
  // The file offset of an address inside a PT_LOAD segment's file bytes.
  size_t FileOffsetOf(uint64_t address) const {
    for (int i = 0; i < segment_count(); ++i) {
      const Elf64_Phdr segment = Segment(i);
      if (segment.p_type == PT_LOAD && address >= segment.p_vaddr &&
          address < segment.p_vaddr + segment.p_filesz) {
        return segment.p_offset + (address - segment.p_vaddr);
      }
    }
    ADD_FAILURE() << "address " << address << " is in no segment";
    return 0;
  }
  // The NUL-terminated string at `offset` in the dynamic string table.
  std::string DynamicString(uint64_t offset) const {
    return std::string(bytes.data() + FileOffsetOf(DynamicValue(DT_STRTAB) + offset));
  }

  std::string bytes;
};

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_ELF_TEST_UTIL_H_
