// What every ELF file that ParseElfInfo accepts must satisfy, checked independently of the
// parser by the ELF fuzzers: a broken promise traps, which libFuzzer reports as a crash.

#ifndef FNHOST_TESTS_FUZZ_ELF_INVARIANTS_H_
#define FNHOST_TESTS_FUZZ_ELF_INVARIANTS_H_

#include <elf.h>

#include <cstring>
#include <string>
#include <string_view>

#include "src/loader/elf_info.h"

namespace fnhost::fuzz {

inline void Check(bool promise) {
  if (!promise) __builtin_trap();
}

// `bytes` were parsed as the file `path` into `info` (or refused).
inline void CheckElfInvariants(std::string_view bytes, const std::string& path,
                               const absl::StatusOr<ElfInfo>& info) {
  if (!info.ok()) {
    Check(info.status().message().substr(0, path.size() + 2) == path + ": ");
    return;
  }
  Check(info->file_size == bytes.size() && info->build_id.size() % 2 == 0);
  for (const std::string& name : info->needed) Check(name.find('\0') == std::string::npos);
  Elf64_Ehdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  uint64_t previous_end = 0;
  bool dynamic_inside = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    std::memcpy(&segment, bytes.data() + header.e_phoff + i * sizeof(segment), sizeof(segment));
    if (segment.p_type != PT_LOAD) continue;
    // What glibc's _dl_map_segments trusts.
    Check(segment.p_offset <= bytes.size() && segment.p_filesz <= bytes.size() - segment.p_offset);
    Check(segment.p_filesz <= segment.p_memsz && segment.p_vaddr >= previous_end);
    previous_end = segment.p_vaddr + segment.p_memsz;
  }
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr dynamic;
    std::memcpy(&dynamic, bytes.data() + header.e_phoff + i * sizeof(dynamic), sizeof(dynamic));
    if (dynamic.p_type != PT_DYNAMIC) continue;
    for (int j = 0; j < header.e_phnum; ++j) {
      Elf64_Phdr load;
      std::memcpy(&load, bytes.data() + header.e_phoff + j * sizeof(load), sizeof(load));
      dynamic_inside = dynamic_inside ||
                       (load.p_type == PT_LOAD && dynamic.p_vaddr >= load.p_vaddr &&
                        dynamic.p_vaddr + dynamic.p_filesz <= load.p_vaddr + load.p_filesz);
    }
  }
  Check(dynamic_inside);
}

}  // namespace fnhost::fuzz

#endif  // FNHOST_TESTS_FUZZ_ELF_INVARIANTS_H_
