#include "src/loader/elf_info.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"
#include "src/loader/elf_bytes.h"
#include "src/loader/elf_image.h"
#include "src/loader/elf_validate.h"

namespace fnhost {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#else
#error "fnhost runs on x86-64 and arm64 only"
#endif
static_assert(std::endian::native == std::endian::little,
              "ParseElfInfo reads ELFDATA2LSB fields as native integers");

const char* MachineName(uint16_t machine) {
  switch (machine) {
    case EM_386: return "i386";
    case EM_ARM: return "arm";
    case EM_X86_64: return "x86-64";
    case EM_AARCH64: return "aarch64";
    case EM_RISCV: return "riscv";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    default: return "unknown";
  }
}

uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// One parse of one file.
class ElfParser {
 public:
  ElfParser(std::string_view bytes, uint64_t file_size, const std::string& path)
      : file_(bytes, file_size, path) {}

  absl::StatusOr<ElfInfo> Parse();

 private:
  struct Segment {
    int index;
    Elf64_Phdr header;
  };

  absl::Status Malformed(absl::string_view cause) const { return file_.Malformed(cause); }
  absl::Status Unusable(absl::string_view cause) const { return file_.Unusable(cause); }
  template <typename T>
  T ReadAt(uint64_t offset) const {
    return file_.ReadAt<T>(offset);
  }

  absl::Status CheckIdentification() const;
  absl::Status CheckHeader(const Elf64_Ehdr& header) const;
  absl::Status CheckSectionHeaders(const Elf64_Ehdr& header) const;
  absl::Status ReadBuildId(const Segment& note, ElfInfo& info) const;
  // The names in the dynamic section, whose string table CheckLoadable found sound.
  void ReadNames(const std::vector<Elf64_Phdr>& segments, const DynamicTags& tags,
                 ElfInfo& info) const;

  ElfBytes file_;
};

absl::Status ElfParser::CheckIdentification() const {
  const std::string_view bytes = file_.bytes();
  if (bytes.empty()) return Malformed("not an ELF file (empty)");
  if (bytes.size() < SELFMAG || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    return Malformed("not an ELF file (bad magic)");
  }
  if (bytes.size() < EI_NIDENT) return Malformed("truncated ELF (identification)");
  const unsigned char elf_class = bytes[EI_CLASS];
  const unsigned char data = bytes[EI_DATA];
  if (elf_class == ELFCLASS32) return Unusable("32-bit ELF, this host needs 64-bit ELF");
  if (elf_class != ELFCLASS64) return Malformed(absl::StrCat("bad ELF class ", elf_class));
  if (data == ELFDATA2MSB) return Unusable("big-endian ELF, this host is little-endian");
  if (data != ELFDATA2LSB) return Malformed(absl::StrCat("bad ELF byte order ", data));
  if (bytes[EI_VERSION] != EV_CURRENT) {
    return Malformed(absl::StrCat("bad ELF version ", static_cast<int>(bytes[EI_VERSION])));
  }
  if (bytes.size() < sizeof(Elf64_Ehdr)) {
    return Malformed("truncated ELF (ELF header past end of file)");
  }
  return absl::OkStatus();
}

absl::Status ElfParser::CheckHeader(const Elf64_Ehdr& header) const {
  if (header.e_machine != kHostMachine) {
    return Unusable(absl::StrCat("ELF for machine ", MachineName(header.e_machine), " (",
                                 header.e_machine, "), this host is ",
                                 MachineName(kHostMachine), " (", kHostMachine, ")"));
  }
  if (header.e_type == ET_EXEC) return Unusable("is an executable, not a shared object");
  if (header.e_type != ET_DYN) {
    return Unusable(absl::StrCat("is not a shared object (ELF type ", header.e_type, ")"));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return Malformed(absl::StrCat("bad program header size ", header.e_phentsize));
  }
  if (header.e_phnum == 0) return Unusable("has no program headers, not a shared object");
  if (!file_.Contains(header.e_phoff, uint64_t{header.e_phnum} * sizeof(Elf64_Phdr))) {
    return Malformed("truncated ELF (program header table past end of file)");
  }
  if (header.e_shnum != 0 && header.e_shentsize != sizeof(Elf64_Shdr)) {
    return Malformed(absl::StrCat("bad section header size ", header.e_shentsize));
  }
  return absl::OkStatus();
}

// The loader ignores section headers, but a table cut short is the sign of a partial copy.
// Checked after the segments, whose damage says more about what would go wrong.
absl::Status ElfParser::CheckSectionHeaders(const Elf64_Ehdr& header) const {
  const uint64_t table_size = uint64_t{header.e_shnum} * sizeof(Elf64_Shdr);
  if (header.e_shoff > file_.file_size() || table_size > file_.file_size() - header.e_shoff) {
    return Malformed("truncated ELF (section header table past end of file)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ElfInfo> ElfParser::Parse() {
  if (absl::Status s = CheckIdentification(); !s.ok()) return s;
  const auto header = ReadAt<Elf64_Ehdr>(0);
  if (absl::Status s = CheckHeader(header); !s.ok()) return s;

  std::vector<Elf64_Phdr> segments;
  bool dynamic = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    segments.push_back(ReadAt<Elf64_Phdr>(header.e_phoff + i * sizeof(Elf64_Phdr)));
    switch (segments.back().p_type) {
      case PT_INTERP:
        return Unusable("is an executable, not a shared object (it has a PT_INTERP)");
      case PT_DYNAMIC:
        if (dynamic) return Malformed("more than one PT_DYNAMIC segment");
        dynamic = true;
        break;
    }
  }
  if (!dynamic) return Unusable("has no PT_DYNAMIC segment, not a shared object");
  absl::StatusOr<DynamicTags> tags = CheckLoadable(file_, segments);
  if (!tags.ok()) return tags.status();
  if (absl::Status s = CheckSectionHeaders(header); !s.ok()) return s;

  ElfInfo info;
  info.file_size = file_.file_size();
  for (int i = 0; i < static_cast<int>(segments.size()); ++i) {
    const Elf64_Phdr& segment = segments[i];
    if (segment.p_type == PT_LOAD) {
      info.loads.push_back({.address = segment.p_vaddr,
                            .size = segment.p_memsz,
                            .executable = (segment.p_flags & PF_X) != 0});
    } else if (segment.p_type == PT_NOTE) {
      if (absl::Status s = ReadBuildId(Segment{i, segment}, info); !s.ok()) return s;
    }
  }
  ReadNames(segments, *tags, info);
  return info;
}

absl::Status ElfParser::ReadBuildId(const Segment& note, ElfInfo& info) const {
  const Elf64_Phdr& phdr = note.header;
  // Notes are 4-aligned, except in segments aligned to 8 (such as .note.gnu.property).
  const uint64_t alignment = phdr.p_align == 8 ? 8 : 4;
  uint64_t position = 0;
  while (phdr.p_filesz - position >= sizeof(Elf64_Nhdr)) {
    const auto nhdr = ReadAt<Elf64_Nhdr>(phdr.p_offset + position);
    const uint64_t name_offset = position + sizeof(Elf64_Nhdr);
    // The descriptor starts at the next aligned byte after the name (gABI; glibc's
    // ELF_NOTE_DESC_OFFSET): 16 bytes into a note named "GNU" in either alignment.
    const uint64_t desc_offset = AlignUp(name_offset + nhdr.n_namesz, alignment);
    if (desc_offset > phdr.p_filesz || nhdr.n_descsz > phdr.p_filesz - desc_offset) {
      return Malformed(absl::StrCat("truncated note in segment ", note.index));
    }
    const std::string_view name = file_.bytes().substr(phdr.p_offset + name_offset, nhdr.n_namesz);
    if (info.build_id.empty() && nhdr.n_type == NT_GNU_BUILD_ID &&
        name == std::string_view("GNU", 4)) {
      info.build_id = absl::BytesToHexString(
          {file_.bytes().data() + phdr.p_offset + desc_offset, nhdr.n_descsz});
    }
    const uint64_t next = desc_offset + AlignUp(nhdr.n_descsz, alignment);
    if (next >= phdr.p_filesz) break;
    position = next;
  }
  return absl::OkStatus();
}

void ElfParser::ReadNames(const std::vector<Elf64_Phdr>& segments, const DynamicTags& tags,
                          ElfInfo& info) const {
  std::vector<Elf64_Phdr> loads;
  for (const Elf64_Phdr& segment : segments) {
    if (segment.p_type == PT_LOAD) loads.push_back(segment);
  }
  const LoadedImage image(file_, std::move(loads));
  const uint64_t strtab = *tags.Get(DT_STRTAB);
  // Inside the table, which ends with a NUL byte (CheckLoadable).
  auto string_at = [&](uint64_t offset) {
    return std::string(file_.bytes().data() + *image.FileOffsetOf(strtab + offset, 1));
  };
  for (uint64_t offset : tags.needed()) info.needed.push_back(string_at(offset));
  if (std::optional<uint64_t> soname = tags.Get(DT_SONAME)) info.soname = string_at(*soname);
  if (std::optional<uint64_t> runpath = tags.Get(DT_RUNPATH)) {
    info.runpath = string_at(*runpath);
  } else if (std::optional<uint64_t> rpath = tags.Get(DT_RPATH)) {
    info.runpath = string_at(*rpath);
  }
}

}  // namespace

absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes,
                                     const std::string& path_for_messages) {
  return ElfParser(bytes, bytes.size(), path_for_messages).Parse();
}

absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes, uint64_t file_size,
                                     const std::string& path_for_messages) {
  return ElfParser(bytes, std::max<uint64_t>(file_size, bytes.size()), path_for_messages)
      .Parse();
}

uint64_t LoadedExtent(std::string_view head, uint64_t file_size) {
  Elf64_Ehdr header;
  if (head.size() < sizeof(header)) return file_size;
  std::memcpy(&header, head.data(), sizeof(header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phoff > head.size()) {
    return file_size;
  }
  const uint64_t table_size = uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
  if (table_size > head.size() - header.e_phoff) return file_size;
  uint64_t extent = std::max<uint64_t>(sizeof(header), header.e_phoff + table_size);
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    std::memcpy(&segment, head.data() + header.e_phoff + i * sizeof(segment), sizeof(segment));
    if (segment.p_offset > file_size || segment.p_filesz > file_size - segment.p_offset) {
      return file_size;
    }
    extent = std::max(extent, segment.p_offset + segment.p_filesz);
  }
  return extent;
}

absl::StatusOr<ElfInfo> ReadElfInfo(const std::string& path) {
  // O_NONBLOCK so that a FIFO in place of a module cannot hang the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError(errno, "open", path);
  absl::Cleanup closer = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, "stat", path);
  if (S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": is a directory, not an ELF file"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": is not a regular file"));
  }
  if (st.st_size == 0) return ParseElfInfo({}, path);
  const size_t size = static_cast<size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) return ErrnoError(errno, "mmap", path);
  absl::Cleanup unmapper = [data, size] { ::munmap(data, size); };
  return ParseElfInfo({static_cast<const char*>(data), size}, path);
}

}  // namespace fnhost
