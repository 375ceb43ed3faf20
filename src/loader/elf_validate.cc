#include "src/loader/elf_validate.h"

#include <unistd.h>

#include <bit>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace fnhost {
namespace {

// Larger thread-local blocks than this are refused: glibc allocates a module's TLS block for
// every thread that touches it and ends the process when that allocation fails.
constexpr uint64_t kMaxTlsBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxTlsAlignment = uint64_t{1} << 20;

uint64_t PageSize() {
  static const uint64_t size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

std::string Describe(int index, const Elf64_Phdr& segment) {
  const char* type = nullptr;
  switch (segment.p_type) {
    case PT_LOAD: type = "PT_LOAD"; break;
    case PT_DYNAMIC: type = "PT_DYNAMIC"; break;
    case PT_PHDR: type = "PT_PHDR"; break;
    case PT_TLS: type = "PT_TLS"; break;
    case PT_GNU_RELRO: type = "PT_GNU_RELRO"; break;
    case PT_GNU_PROPERTY: type = "PT_GNU_PROPERTY"; break;
  }
  return type == nullptr ? absl::StrCat("segment ", index)
                         : absl::StrCat("segment ", index, " (", type, ")");
}

class SegmentChecker {
 public:
  SegmentChecker(const ElfBytes& file, const std::vector<Elf64_Phdr>& segments)
      : file_(file), segments_(segments) {}

  absl::StatusOr<DynamicTags> Check();

 private:
  absl::Status CheckInFile(int index) const;
  absl::Status CheckLoad(int index, const Elf64_Phdr* previous) const;
  // Segments that the loader reads through the mapped image.
  absl::Status CheckPlaced(const LoadedImage& image, int index) const;
  absl::Status CheckPropertyNotes(int index) const;
  absl::StatusOr<DynamicTags> ReadDynamic(int index) const;

  const ElfBytes& file_;
  const std::vector<Elf64_Phdr>& segments_;
};

absl::Status SegmentChecker::CheckInFile(int index) const {
  const Elf64_Phdr& segment = segments_[index];
  if (file_.Contains(segment.p_offset, segment.p_filesz)) return absl::OkStatus();
  if (segment.p_offset > std::numeric_limits<uint64_t>::max() - segment.p_filesz) {
    return file_.Malformed(absl::StrCat("segment ", index, " has offset ", segment.p_offset,
                                        " and size ", segment.p_filesz, ", which overflow"));
  }
  return file_.Malformed(absl::StrCat("truncated ELF (segment ", index, " ends at byte ",
                                      segment.p_offset + segment.p_filesz, " but the file has ",
                                      file_.size(), " bytes)"));
}

absl::Status SegmentChecker::CheckLoad(int index, const Elf64_Phdr* previous) const {
  const Elf64_Phdr& load = segments_[index];
  const std::string name = Describe(index, load);
  if (load.p_filesz > load.p_memsz) {
    return file_.Malformed(absl::StrCat(name, " has ", load.p_filesz, " bytes in the file but ",
                                        load.p_memsz, " in memory"));
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (load.p_memsz > kMax - PageSize() || load.p_vaddr > kMax - PageSize() - load.p_memsz) {
    return file_.Malformed(absl::StrCat(name, " ends past the end of the address space"));
  }
  if (load.p_align > 1 && !std::has_single_bit(load.p_align)) {
    return file_.Malformed(
        absl::StrCat(name, " has alignment ", load.p_align, ", not a power of two"));
  }
  const uint64_t alignment = std::max<uint64_t>(load.p_align, PageSize());
  if ((load.p_vaddr - load.p_offset) % alignment != 0) {
    return file_.Malformed(absl::StrCat(name, " has address 0x", absl::Hex(load.p_vaddr),
                                        " and offset 0x", absl::Hex(load.p_offset),
                                        ", which differ modulo its alignment 0x",
                                        absl::Hex(alignment)));
  }
  if (previous != nullptr && load.p_vaddr < previous->p_vaddr + previous->p_memsz) {
    return file_.Malformed(absl::StrCat(
        name, " starts at address 0x", absl::Hex(load.p_vaddr),
        ", before the previous PT_LOAD segment ends (0x",
        absl::Hex(previous->p_vaddr + previous->p_memsz), ")"));
  }
  return absl::OkStatus();
}

absl::Status SegmentChecker::CheckPlaced(const LoadedImage& image, int index) const {
  const Elf64_Phdr& segment = segments_[index];
  auto from_file = [&](uint64_t size) {
    return image.FileOffsetOf(segment.p_vaddr, size) == segment.p_offset;
  };
  auto not_inside = [&] {
    return file_.Malformed(absl::StrCat(Describe(index, segment),
                                        " is not inside the file bytes of a PT_LOAD segment"));
  };
  switch (segment.p_type) {
    case PT_DYNAMIC:
    case PT_PHDR:
      if (!from_file(segment.p_filesz)) return not_inside();
      break;
    case PT_GNU_PROPERTY:
      if (!from_file(segment.p_memsz)) return not_inside();
      return CheckPropertyNotes(index);
    case PT_GNU_RELRO:
      if (image.SegmentHolding(segment.p_vaddr, segment.p_memsz) == nullptr) {
        return file_.Malformed(
            absl::StrCat(Describe(index, segment), " is not inside a PT_LOAD segment"));
      }
      break;
    case PT_TLS:
      if (segment.p_filesz > segment.p_memsz || segment.p_memsz > kMaxTlsBytes ||
          segment.p_align > kMaxTlsAlignment ||
          (segment.p_align > 1 && !std::has_single_bit(segment.p_align))) {
        return file_.Malformed(absl::StrCat(
            Describe(index, segment), " has ", segment.p_filesz, " bytes in the file, ",
            segment.p_memsz, " in memory and alignment ", segment.p_align,
            "; the loader needs file <= memory <= 1 GiB and a power-of-two alignment <= 1 MiB"));
      }
      if (segment.p_filesz > 0 && !from_file(segment.p_filesz)) return not_inside();
      break;
  }
  return absl::OkStatus();
}

// glibc walks the notes of PT_GNU_PROPERTY in the mapped image (when the segment is 8-aligned)
// and reads the first GNU property note's descriptor whole: both must stay inside the segment.
absl::Status SegmentChecker::CheckPropertyNotes(int index) const {
  const Elf64_Phdr& segment = segments_[index];
  if (segment.p_align != 8) return absl::OkStatus();
  const uint64_t size = segment.p_memsz;
  auto runs_past = [&] {
    return file_.Malformed(absl::StrCat("the GNU property note in ", Describe(index, segment),
                                        " runs past the segment's end"));
  };
  for (uint64_t position = 0; position + sizeof(Elf64_Nhdr) < size;) {
    const auto note = file_.ReadAt<Elf64_Nhdr>(segment.p_offset + position);
    const uint64_t name = position + sizeof(Elf64_Nhdr);
    if (note.n_namesz == 4 && note.n_type == NT_GNU_PROPERTY_TYPE_0) {
      if (name + 4 > size) return runs_past();
      if (file_.bytes().substr(segment.p_offset + name, 4) == std::string_view("GNU", 4)) {
        // glibc ignores a descriptor of the first kind and reads the second whole.
        if (note.n_descsz < 8 || note.n_descsz % 8 != 0) return absl::OkStatus();
        return name + 4 + note.n_descsz <= size ? absl::OkStatus() : runs_past();
      }
    }
    position = AlignUp(name + note.n_namesz, 8) + AlignUp(note.n_descsz, 8);
  }
  return absl::OkStatus();
}

absl::StatusOr<DynamicTags> SegmentChecker::ReadDynamic(int index) const {
  const Elf64_Phdr& dynamic = segments_[index];
  DynamicTags tags;
  const uint64_t count = dynamic.p_filesz / sizeof(Elf64_Dyn);
  for (uint64_t i = 0; i < count; ++i) {
    const auto entry = file_.ReadAt<Elf64_Dyn>(dynamic.p_offset + i * sizeof(Elf64_Dyn));
    if (entry.d_tag == DT_NULL) return tags;
    tags.Add(entry.d_tag, entry.d_un.d_val);
  }
  // glibc reads entries until DT_NULL, whatever the segment's size says.
  return file_.Malformed(
      absl::StrCat("the dynamic section in segment ", index, " has no DT_NULL entry"));
}

absl::StatusOr<DynamicTags> SegmentChecker::Check() {
  const Elf64_Phdr* previous_load = nullptr;
  std::vector<Elf64_Phdr> loads;
  int dynamic = -1;
  for (int i = 0; i < static_cast<int>(segments_.size()); ++i) {
    if (absl::Status s = CheckInFile(i); !s.ok()) return s;
    if (segments_[i].p_type == PT_DYNAMIC) dynamic = i;
    if (segments_[i].p_type != PT_LOAD) continue;
    if (absl::Status s = CheckLoad(i, previous_load); !s.ok()) return s;
    previous_load = &segments_[i];
    loads.push_back(segments_[i]);
  }
  if (loads.empty()) return file_.Unusable("has no PT_LOAD segment, nothing to map");
  const LoadedImage image(file_, std::move(loads));
  for (int i = 0; i < static_cast<int>(segments_.size()); ++i) {
    if (absl::Status s = CheckPlaced(image, i); !s.ok()) return s;
  }
  if (dynamic < 0) return file_.Unusable("has no PT_DYNAMIC segment, not a shared object");
  absl::StatusOr<DynamicTags> tags = ReadDynamic(dynamic);
  if (!tags.ok()) return tags.status();
  if (absl::Status s = CheckDynamicTables(image, *tags); !s.ok()) return s;
  return tags;
}

}  // namespace

absl::StatusOr<DynamicTags> CheckLoadable(const ElfBytes& file,
                                          const std::vector<Elf64_Phdr>& segments) {
  return SegmentChecker(file, segments).Check();
}

}  // namespace fnhost
