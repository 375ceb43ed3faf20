#include "src/loader/elf_info.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_system.h"

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

// One parse of one file. Every offset and size read from the file goes through Contains()
// before anything is read at it.
class ElfParser {
 public:
  ElfParser(std::string_view bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  absl::StatusOr<ElfInfo> Parse();

 private:
  struct Segment {
    int index;
    Elf64_Phdr header;
  };

  // True if [offset, offset + size) lies inside the file.
  bool Contains(uint64_t offset, uint64_t size) const {
    return offset <= bytes_.size() && size <= bytes_.size() - offset;
  }
  // Copies a T from `offset`, which Contains(offset, sizeof(T)); memcpy because the bytes
  // need not be aligned.
  template <typename T>
  T ReadAt(uint64_t offset) const {
    T value;
    std::memcpy(&value, bytes_.data() + offset, sizeof(T));
    return value;
  }
  // The file is damaged or is not ELF.
  absl::Status Malformed(absl::string_view cause) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", cause));
  }
  // The file is sound ELF but cannot be a module of this process.
  absl::Status Unusable(absl::string_view cause) const {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": ", cause));
  }

  absl::Status CheckIdentification() const;
  absl::Status ReadBuildId(const Segment& note, ElfInfo& info) const;
  absl::Status ReadDynamic(const Segment& dynamic, ElfInfo& info) const;
  absl::StatusOr<std::string> ReadString(std::string_view table, uint64_t offset,
                                         const char* what) const;

  std::string_view bytes_;
  const std::string& path_;
  std::vector<Segment> loads_;
};

absl::Status ElfParser::CheckIdentification() const {
  if (bytes_.empty()) return Malformed("not an ELF file (empty)");
  if (bytes_.size() < SELFMAG || std::memcmp(bytes_.data(), ELFMAG, SELFMAG) != 0) {
    return Malformed("not an ELF file (bad magic)");
  }
  if (bytes_.size() < EI_NIDENT) return Malformed("truncated ELF (identification)");
  const unsigned char elf_class = bytes_[EI_CLASS];
  const unsigned char data = bytes_[EI_DATA];
  if (elf_class == ELFCLASS32) return Unusable("32-bit ELF, this host needs 64-bit ELF");
  if (elf_class != ELFCLASS64) return Malformed(absl::StrCat("bad ELF class ", elf_class));
  if (data == ELFDATA2MSB) return Unusable("big-endian ELF, this host is little-endian");
  if (data != ELFDATA2LSB) return Malformed(absl::StrCat("bad ELF byte order ", data));
  if (bytes_[EI_VERSION] != EV_CURRENT) {
    return Malformed(absl::StrCat("bad ELF version ", static_cast<int>(bytes_[EI_VERSION])));
  }
  if (bytes_.size() < sizeof(Elf64_Ehdr)) {
    return Malformed("truncated ELF (ELF header past end of file)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ElfInfo> ElfParser::Parse() {
  if (absl::Status s = CheckIdentification(); !s.ok()) return s;
  const auto header = ReadAt<Elf64_Ehdr>(0);
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
  if (!Contains(header.e_phoff, uint64_t{header.e_phnum} * sizeof(Elf64_Phdr))) {
    return Malformed("truncated ELF (program header table past end of file)");
  }
  // The loader ignores section headers, but a table cut short is the sign of a partial copy.
  if (header.e_shnum != 0) {
    if (header.e_shentsize != sizeof(Elf64_Shdr)) {
      return Malformed(absl::StrCat("bad section header size ", header.e_shentsize));
    }
    if (!Contains(header.e_shoff, uint64_t{header.e_shnum} * sizeof(Elf64_Shdr))) {
      return Malformed("truncated ELF (section header table past end of file)");
    }
  }

  std::optional<Segment> dynamic;
  std::vector<Segment> notes;
  for (int i = 0; i < header.e_phnum; ++i) {
    const Segment segment{i, ReadAt<Elf64_Phdr>(header.e_phoff + i * sizeof(Elf64_Phdr))};
    const Elf64_Phdr& phdr = segment.header;
    if (!Contains(phdr.p_offset, phdr.p_filesz)) {
      return Malformed(absl::StrCat("truncated ELF (segment ", i, " past end of file)"));
    }
    switch (phdr.p_type) {
      case PT_INTERP:
        return Unusable("is an executable, not a shared object (it has a PT_INTERP)");
      case PT_LOAD:
        loads_.push_back(segment);
        break;
      case PT_NOTE:
        notes.push_back(segment);
        break;
      case PT_DYNAMIC:
        if (dynamic.has_value()) return Malformed("more than one PT_DYNAMIC segment");
        dynamic = segment;
        break;
    }
  }
  if (!dynamic.has_value()) return Unusable("has no PT_DYNAMIC segment, not a shared object");

  ElfInfo info;
  info.file_size = bytes_.size();
  for (const Segment& note : notes) {
    if (absl::Status s = ReadBuildId(note, info); !s.ok()) return s;
  }
  if (absl::Status s = ReadDynamic(*dynamic, info); !s.ok()) return s;
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
    const uint64_t desc_offset = name_offset + AlignUp(nhdr.n_namesz, alignment);
    if (desc_offset > phdr.p_filesz || nhdr.n_descsz > phdr.p_filesz - desc_offset) {
      return Malformed(absl::StrCat("truncated note in segment ", note.index));
    }
    const std::string_view name = bytes_.substr(phdr.p_offset + name_offset, nhdr.n_namesz);
    if (info.build_id.empty() && nhdr.n_type == NT_GNU_BUILD_ID &&
        name == std::string_view("GNU", 4)) {
      info.build_id = absl::BytesToHexString(
          {bytes_.data() + phdr.p_offset + desc_offset, nhdr.n_descsz});
    }
    const uint64_t next = desc_offset + AlignUp(nhdr.n_descsz, alignment);
    if (next >= phdr.p_filesz) break;
    position = next;
  }
  return absl::OkStatus();
}

absl::Status ElfParser::ReadDynamic(const Segment& dynamic, ElfInfo& info) const {
  std::vector<uint64_t> needed_offsets;
  std::optional<uint64_t> soname_offset;
  std::optional<uint64_t> strtab_address;
  std::optional<uint64_t> strtab_size;
  const uint64_t count = dynamic.header.p_filesz / sizeof(Elf64_Dyn);
  for (uint64_t i = 0; i < count; ++i) {
    const auto entry = ReadAt<Elf64_Dyn>(dynamic.header.p_offset + i * sizeof(Elf64_Dyn));
    if (entry.d_tag == DT_NULL) break;
    switch (entry.d_tag) {
      case DT_NEEDED:
        needed_offsets.push_back(entry.d_un.d_val);
        break;
      case DT_SONAME:
        soname_offset = entry.d_un.d_val;
        break;
      case DT_STRTAB:
        strtab_address = entry.d_un.d_ptr;
        break;
      case DT_STRSZ:
        strtab_size = entry.d_un.d_val;
        break;
    }
  }
  if (needed_offsets.empty() && !soname_offset.has_value()) return absl::OkStatus();
  if (!strtab_address.has_value() || !strtab_size.has_value()) {
    return Malformed("dynamic section names libraries but has no DT_STRTAB or DT_STRSZ");
  }

  // DT_STRTAB is a virtual address: find the loaded segment whose file bytes hold it.
  std::optional<std::string_view> table;
  for (const Segment& load : loads_) {
    const Elf64_Phdr& phdr = load.header;
    if (*strtab_address < phdr.p_vaddr || *strtab_address - phdr.p_vaddr >= phdr.p_filesz) {
      continue;
    }
    const uint64_t offset_in_segment = *strtab_address - phdr.p_vaddr;
    if (*strtab_size > phdr.p_filesz - offset_in_segment) {
      return Malformed("truncated ELF (dynamic string table past end of its segment)");
    }
    table = bytes_.substr(phdr.p_offset + offset_in_segment, *strtab_size);
    break;
  }
  if (!table.has_value()) {
    return Malformed(absl::StrCat("DT_STRTAB address 0x", absl::Hex(*strtab_address),
                                  " is in no PT_LOAD segment"));
  }

  for (uint64_t offset : needed_offsets) {
    absl::StatusOr<std::string> name = ReadString(*table, offset, "DT_NEEDED");
    if (!name.ok()) return name.status();
    info.needed.push_back(*std::move(name));
  }
  if (soname_offset.has_value()) {
    absl::StatusOr<std::string> soname = ReadString(*table, *soname_offset, "DT_SONAME");
    if (!soname.ok()) return soname.status();
    info.soname = *std::move(soname);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ElfParser::ReadString(std::string_view table, uint64_t offset,
                                                  const char* what) const {
  const size_t end = offset < table.size() ? table.find('\0', offset) : std::string_view::npos;
  if (end == std::string_view::npos) {
    return Malformed(absl::StrCat(what, " string at ", offset,
                                  " is not terminated inside the string table"));
  }
  return std::string(table.substr(offset, end - offset));
}

}  // namespace

absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes,
                                     const std::string& path_for_messages) {
  return ElfParser(bytes, path_for_messages).Parse();
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
