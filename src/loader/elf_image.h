// LoadedImage and DynamicTags: an ELF file seen as the dynamic loader sees it once mapped, for
// the load checks (elf_validate.cc, elf_tables.cc). LoadedImage answers "which bytes of the
// file would this address read": the PT_LOAD segments, already checked to lie inside the file,
// in ascending address order. DynamicTags holds the dynamic section's entries, the last of each
// tag winning as in glibc. Value types over borrowed bytes; thread-compatible.

#ifndef FNHOST_SRC_LOADER_ELF_IMAGE_H_
#define FNHOST_SRC_LOADER_ELF_IMAGE_H_

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "src/loader/elf_bytes.h"

namespace fnhost {

class LoadedImage {
 public:
  LoadedImage(const ElfBytes& file, std::vector<Elf64_Phdr> loads)
      : file_(file), loads_(std::move(loads)) {}

  const ElfBytes& file() const { return file_; }

  // The PT_LOAD segment whose memory holds all of [address, address + size), or nullptr.
  const Elf64_Phdr* SegmentHolding(uint64_t address, uint64_t size) const {
    for (const Elf64_Phdr& load : loads_) {
      if (address >= load.p_vaddr && address - load.p_vaddr <= load.p_memsz &&
          size <= load.p_memsz - (address - load.p_vaddr)) {
        return &load;
      }
    }
    return nullptr;
  }
  // The file offset of [address, address + size) if a PT_LOAD segment maps all of it from the
  // file (not from the zero-filled tail past p_filesz).
  std::optional<uint64_t> FileOffsetOf(uint64_t address, uint64_t size) const {
    for (const Elf64_Phdr& load : loads_) {
      if (address >= load.p_vaddr && address - load.p_vaddr <= load.p_filesz &&
          size <= load.p_filesz - (address - load.p_vaddr)) {
        return load.p_offset + (address - load.p_vaddr);
      }
    }
    return std::nullopt;
  }
  // How many bytes of file-backed memory follow `address` in its segment; 0 if none.
  uint64_t FileBytesFrom(uint64_t address) const {
    for (const Elf64_Phdr& load : loads_) {
      if (address >= load.p_vaddr && address - load.p_vaddr < load.p_filesz) {
        return load.p_filesz - (address - load.p_vaddr);
      }
    }
    return 0;
  }
  // Reads a T at `address`, which FileOffsetOf(address, sizeof(T)) has.
  template <typename T>
  T ReadAt(uint64_t address) const {
    return file_.ReadAt<T>(*FileOffsetOf(address, sizeof(T)));
  }

 private:
  const ElfBytes& file_;
  std::vector<Elf64_Phdr> loads_;
};

class DynamicTags {
 public:
  void Add(int64_t tag, uint64_t value) {
    if (tag >= 0 && tag < kDirect) {
      direct_[tag] = value;
    } else {
      auto it = std::find_if(others_.begin(), others_.end(),
                             [tag](const auto& entry) { return entry.first == tag; });
      if (it != others_.end()) {
        it->second = value;
      } else {
        others_.emplace_back(tag, value);
      }
    }
    if (tag == DT_NEEDED) needed_.push_back(value);
  }
  std::optional<uint64_t> Get(int64_t tag) const {
    if (tag >= 0 && tag < kDirect) return direct_[tag];
    for (const auto& [other, value] : others_) {
      if (other == tag) return value;
    }
    return std::nullopt;
  }
  bool Has(int64_t tag) const { return Get(tag).has_value(); }
  // The string table offsets of every DT_NEEDED entry, in file order.
  const std::vector<uint64_t>& needed() const { return needed_; }

 private:
  // The generic tags (up to DT_RELR and beyond) by index; the few OS-specific ones in a list.
  static constexpr int64_t kDirect = 64;
  std::array<std::optional<uint64_t>, kDirect> direct_{};
  std::vector<std::pair<int64_t, uint64_t>> others_;
  std::vector<uint64_t> needed_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_IMAGE_H_
