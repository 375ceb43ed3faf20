// The relocation half of TableChecker (elf_tables.h).

#include <vector>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/loader/elf_tables.h"

namespace fnhost {

absl::Status TableChecker::CheckRelocationTarget(uint64_t address, const Reader& writer) const {
  const Elf64_Phdr* segment = image_.SegmentHolding(address, sizeof(uint64_t));
  if (segment == nullptr) {
    return Fail(absl::StrCat(writer.Describe(), " writes at 0x", absl::Hex(address),
                             ", outside the module's segments"));
  }
  // The loader makes read-only segments writable for relocation only with DT_TEXTREL.
  if ((segment->p_flags & PF_W) == 0 && !text_relocations_) {
    return Fail(absl::StrCat(writer.Describe(), " writes at 0x", absl::Hex(address),
                             ", in a read-only segment, and the module has no DT_TEXTREL"));
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckRela(int64_t tag, int64_t size_tag, const char* name) const {
  if (!tags_.Has(tag)) return absl::OkStatus();
  const uint64_t address = *tags_.Get(tag);
  const uint64_t count = *tags_.Get(size_tag) / sizeof(Elf64_Rela);
  // ld.so asserts that the first DT_RELACOUNT relocations are relative ones.
  const uint64_t relative = tag == DT_RELA ? tags_.Get(DT_RELACOUNT).value_or(0) : 0;
  if (relative > count) {
    return Fail(absl::StrCat("DT_RELACOUNT is ", relative, " but DT_RELA holds ", count,
                             " relocations"));
  }
  for (uint64_t i = 0; i < count; ++i) {
    const auto rela = image_.ReadAt<Elf64_Rela>(address + i * sizeof(Elf64_Rela));
    const Reader what{name, i, true};
    if (i < relative && ELF64_R_TYPE(rela.r_info) != kRelativeRelocation) {
      return Fail(absl::StrCat(what.Describe(), " has type ", ELF64_R_TYPE(rela.r_info),
                               ", but DT_RELACOUNT says it is relative"));
    }
    if (ELF64_R_TYPE(rela.r_info) == 0) continue;  // R_*_NONE: the loader skips it
    if (absl::Status s = CheckRelocationTarget(rela.r_offset, what); !s.ok()) return s;
    // A relative relocation stores a pointer into the module (the loader calls an indirect
    // one's resolver at once): its addend is an address in the image, or in its code.
    const uint64_t target = static_cast<uint64_t>(rela.r_addend);
    if (ELF64_R_TYPE(rela.r_info) == kRelativeRelocation &&
        image_.SegmentHolding(target, 0) == nullptr) {
      return Fail(absl::StrCat(what.Describe(), " points to 0x", absl::Hex(target),
                               ", outside the module"));
    }
    if (ELF64_R_TYPE(rela.r_info) == kIndirectRelocation) {
      const Elf64_Phdr* code = image_.SegmentHolding(target, 1);
      if (code == nullptr || (code->p_flags & PF_X) == 0) {
        return Fail(absl::StrCat(what.Describe(), " has its resolver at 0x", absl::Hex(target),
                                 ", outside the module's code"));
      }
    }
    const uint64_t symbol = ELF64_R_SYM(rela.r_info);
    if (symbol == 0) continue;
    if (absl::Status s = CheckSymbol(symbol, what); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Calls `visit` with every address that DT_RELR relocates, until it returns an error. An even
// entry is an address, and the next words follow it; an odd entry is a bitmap of the 63 words
// after the last address.
template <typename Visit>
absl::Status ForEachRelrAddress(const LoadedImage& image, const DynamicTags& tags,
                                Visit visit) {
  if (!tags.Has(DT_RELR)) return absl::OkStatus();
  const uint64_t address = *tags.Get(DT_RELR);
  const uint64_t count = *tags.Get(DT_RELRSZ) / sizeof(uint64_t);
  std::optional<uint64_t> next;  // the word after the last one relocated
  for (uint64_t i = 0; i < count; ++i) {
    const auto entry = image.ReadAt<uint64_t>(address + i * sizeof(uint64_t));
    if ((entry & 1) == 0) {
      if (absl::Status s = visit(i, entry); !s.ok()) return s;
      next = entry + sizeof(uint64_t);
      continue;
    }
    if (!next.has_value()) return image.file().Malformed("DT_RELR starts with a bitmap");
    for (int bit = 1; bit < 64; ++bit) {
      if ((entry >> bit & 1) == 0) continue;
      if (absl::Status s = visit(i, *next + (bit - 1) * sizeof(uint64_t)); !s.ok()) return s;
    }
    *next += 63 * sizeof(uint64_t);
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckRelr() const {
  return ForEachRelrAddress(image_, tags_, [this](uint64_t entry, uint64_t word) {
    return CheckRelocationTarget(word, Reader{"DT_RELR entry", entry, false});
  });
}

// The loader calls every entry of DT_INIT_ARRAY and DT_FINI_ARRAY. In a shared object each
// holds an address relative to the load address, which a relocation (in DT_RELA or DT_RELR)
// turns into a pointer: a relative one must point into the module's code, and an entry that no
// relocation touches would be called as is.
absl::Status TableChecker::CheckConstructors(int64_t tag, int64_t size_tag,
                                             const char* name) const {
  if (!tags_.Has(tag)) return absl::OkStatus();
  const uint64_t begin = *tags_.Get(tag);
  const uint64_t entries = *tags_.Get(size_tag) / sizeof(uint64_t);
  constexpr uint64_t kThroughSymbol = ~uint64_t{0};
  std::vector<std::optional<uint64_t>> targets(entries);  // relative target, or kThroughSymbol
  auto slot = [&](uint64_t address) -> std::optional<uint64_t>* {
    if (address < begin || (address - begin) / sizeof(uint64_t) >= entries ||
        (address - begin) % sizeof(uint64_t) != 0) {
      return nullptr;
    }
    return &targets[(address - begin) / sizeof(uint64_t)];
  };
  if (tags_.Has(DT_RELA)) {
    const uint64_t count = *tags_.Get(DT_RELASZ) / sizeof(Elf64_Rela);
    for (uint64_t i = 0; i < count; ++i) {
      const auto rela = image_.ReadAt<Elf64_Rela>(*tags_.Get(DT_RELA) + i * sizeof(Elf64_Rela));
      if (std::optional<uint64_t>* target = slot(rela.r_offset)) {
        *target = ELF64_R_TYPE(rela.r_info) == kRelativeRelocation
                      ? static_cast<uint64_t>(rela.r_addend)
                      : kThroughSymbol;
      }
    }
  }
  absl::Status relr = ForEachRelrAddress(image_, tags_, [&](uint64_t, uint64_t word) {
    std::optional<uint64_t>* target = slot(word);
    if (target == nullptr) return absl::OkStatus();
    if (!image_.FileOffsetOf(word, sizeof(uint64_t))) {
      return Fail(absl::StrCat(name, " is not in the file, but DT_RELR relocates it"));
    }
    *target = image_.ReadAt<uint64_t>(word);
    return absl::OkStatus();
  });
  if (!relr.ok()) return relr;
  for (uint64_t index = 0; index < entries; ++index) {
    if (!targets[index].has_value()) {
      return Fail(absl::StrCat(name, " entry ", index, " is not relocated, so the loader would "
                               "call what it holds as an absolute address"));
    }
    if (*targets[index] == kThroughSymbol) continue;
    const Elf64_Phdr* code = image_.SegmentHolding(*targets[index], 1);
    if (code == nullptr || (code->p_flags & PF_X) == 0) {
      return Fail(absl::StrCat(name, " entry ", index, " points to 0x",
                               absl::Hex(*targets[index]), ", not into the module's code"));
    }
  }
  return absl::OkStatus();
}

}  // namespace fnhost
