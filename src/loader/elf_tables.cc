// CheckDynamicTables (declared in elf_validate.h): the dynamic entries and the tables they point
// to, as glibc's loader reads them after mapping the file.

#include <algorithm>
#include <bit>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/loader/elf_tables.h"
#include "src/loader/elf_validate.h"

namespace fnhost {
namespace {

// A bound on version entries, far above what any linker writes, so that a forged chain of
// tiny steps cannot make the check itself slow.
constexpr int kMaxVersionEntries = 1 << 16;

}  // namespace

absl::Status TableChecker::CheckEntries() const {
  // Each of these would trip an assertion in ld.so, which ends the process.
  if (std::optional<uint64_t> pltrel = tags_.Get(DT_PLTREL); pltrel && *pltrel != DT_RELA) {
    return Fail(absl::StrCat("DT_PLTREL is ", *pltrel, ", this machine's loader needs DT_RELA (",
                             DT_RELA, ")"));
  }
  if (tags_.Has(DT_REL) || tags_.Has(DT_RELSZ) || tags_.Has(DT_RELENT)) {
    return Fail("has DT_REL relocations, which this machine's loader does not apply");
  }
  if (tags_.Has(DT_RELA) && tags_.Get(DT_RELAENT) != sizeof(Elf64_Rela)) {
    return Fail(absl::StrCat("DT_RELA without a DT_RELAENT of ", sizeof(Elf64_Rela)));
  }
  if (tags_.Has(DT_RELR) && tags_.Get(DT_RELRENT) != sizeof(uint64_t)) {
    return Fail(absl::StrCat("DT_RELR without a DT_RELRENT of ", sizeof(uint64_t)));
  }
  if (tags_.Has(DT_SYMENT) && tags_.Get(DT_SYMENT) != sizeof(Elf64_Sym)) {
    return Fail(absl::StrCat("DT_SYMENT is ", *tags_.Get(DT_SYMENT), ", expected ",
                             sizeof(Elf64_Sym)));
  }
  // ld.so reads the size of each of these tables without checking that it is there.
  for (const auto& [table, size, names] :
       {std::tuple{DT_RELA, DT_RELASZ, "DT_RELA without DT_RELASZ"},
        std::tuple{DT_JMPREL, DT_PLTRELSZ, "DT_JMPREL without DT_PLTRELSZ"},
        std::tuple{DT_RELR, DT_RELRSZ, "DT_RELR without DT_RELRSZ"},
        std::tuple{DT_INIT_ARRAY, DT_INIT_ARRAYSZ, "DT_INIT_ARRAY without DT_INIT_ARRAYSZ"},
        std::tuple{DT_FINI_ARRAY, DT_FINI_ARRAYSZ, "DT_FINI_ARRAY without DT_FINI_ARRAYSZ"}}) {
    if (tags_.Has(table) && !tags_.Has(size)) return Fail(names);
  }
  if (tags_.Has(DT_PLTREL) && !(tags_.Has(DT_JMPREL) && tags_.Has(DT_PLTRELSZ))) {
    return Fail("DT_PLTREL without DT_JMPREL and DT_PLTRELSZ");
  }
  if (!tags_.Has(DT_SYMTAB)) {
    return file_.Unusable("has no dynamic symbol table (DT_SYMTAB), so it exports nothing");
  }
  if (!tags_.Has(DT_GNU_HASH) && !tags_.Has(DT_HASH)) {
    return file_.Unusable("has no symbol hash table (DT_GNU_HASH or DT_HASH), so its symbols "
                          "cannot be looked up");
  }
  if (!tags_.Has(DT_STRTAB) || !tags_.Has(DT_STRSZ)) {
    return Fail("dynamic section has no DT_STRTAB or DT_STRSZ");
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckTable(int64_t tag, const char* name, uint64_t size) const {
  const uint64_t address = *tags_.Get(tag);
  if (image_.FileBytesFrom(address) == 0) {
    return Fail(absl::StrCat(name, " address 0x", absl::Hex(address), " is in no PT_LOAD segment"));
  }
  if (!image_.FileOffsetOf(address, size).has_value()) {
    return Fail(absl::StrCat("truncated ELF (", name, " of ", size, " bytes at 0x",
                             absl::Hex(address), " runs past the end of its segment)"));
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckSizedTable(int64_t tag, int64_t size_tag, const char* name,
                                           uint64_t entry_size) const {
  if (!tags_.Has(tag)) return absl::OkStatus();
  const uint64_t size = tags_.Get(size_tag).value_or(0);
  if (size % entry_size != 0) {
    return Fail(absl::StrCat(name, " has ", size, " bytes, not a multiple of ", entry_size));
  }
  return CheckTable(tag, name, size);
}

absl::Status TableChecker::CheckString(uint64_t offset, absl::string_view what) const {
  if (offset < strsz_) return absl::OkStatus();  // strings end inside: the table ends in NUL
  return Fail(absl::StrCat(what, " string at ", offset, " is not terminated inside the string "
                                 "table (DT_STRSZ ",
                           strsz_, ")"));
}

absl::Status TableChecker::CheckPlacement() {
  strtab_ = *tags_.Get(DT_STRTAB);
  strsz_ = *tags_.Get(DT_STRSZ);
  if (absl::Status s = CheckTable(DT_STRTAB, "DT_STRTAB", strsz_); !s.ok()) return s;
  if (strsz_ == 0 || image_.ReadAt<char>(strtab_ + strsz_ - 1) != '\0') {
    return Fail(absl::StrCat("the dynamic string table (DT_STRSZ ", strsz_,
                             ") does not end with a NUL byte"));
  }
  if (absl::Status s = CheckTable(DT_SYMTAB, "DT_SYMTAB", sizeof(Elf64_Sym)); !s.ok()) return s;
  symtab_ = *tags_.Get(DT_SYMTAB);
  symbols_ = image_.FileBytesFrom(symtab_) / sizeof(Elf64_Sym);
  for (const auto& [tag, size_tag, name, entry] :
       {std::tuple{DT_RELA, DT_RELASZ, "DT_RELA", sizeof(Elf64_Rela)},
        std::tuple{DT_JMPREL, DT_PLTRELSZ, "DT_JMPREL", sizeof(Elf64_Rela)},
        std::tuple{DT_RELR, DT_RELRSZ, "DT_RELR", sizeof(uint64_t)}}) {
    if (absl::Status s = CheckSizedTable(tag, size_tag, name, entry); !s.ok()) return s;
  }
  // The arrays of constructors and destructors hold relocated pointers: in memory, not
  // necessarily in the file.
  for (const auto& [tag, size_tag, name] :
       {std::tuple{DT_INIT_ARRAY, DT_INIT_ARRAYSZ, "DT_INIT_ARRAY"},
        std::tuple{DT_FINI_ARRAY, DT_FINI_ARRAYSZ, "DT_FINI_ARRAY"}}) {
    if (!tags_.Has(tag)) continue;
    const uint64_t size = tags_.Get(size_tag).value_or(0);
    if (size % sizeof(uint64_t) != 0 || image_.SegmentHolding(*tags_.Get(tag), size) == nullptr) {
      return Fail(absl::StrCat(name, " (", size, " bytes at 0x", absl::Hex(*tags_.Get(tag)),
                               ") is not inside a PT_LOAD segment"));
    }
  }
  for (const auto& [tag, name] : {std::pair{DT_INIT, "DT_INIT"}, std::pair{DT_FINI, "DT_FINI"}}) {
    if (!tags_.Has(tag)) continue;
    const Elf64_Phdr* code = image_.SegmentHolding(*tags_.Get(tag), 1);
    if (code == nullptr || (code->p_flags & PF_X) == 0) {
      return Fail(absl::StrCat(name, " 0x", absl::Hex(*tags_.Get(tag)),
                               " is not in an executable segment"));
    }
  }
  for (int64_t tag : {DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_AUXILIARY, DT_FILTER}) {
    if (tag == DT_NEEDED) {
      for (uint64_t offset : tags_.needed()) {
        if (absl::Status s = CheckString(offset, "DT_NEEDED"); !s.ok()) return s;
      }
    } else if (std::optional<uint64_t> offset = tags_.Get(tag)) {
      if (absl::Status s = CheckString(*offset, "a library name or path"); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// glibc trusts the counts as well as the chains, which must agree.
absl::Status TableChecker::CheckVersionCount(int64_t tag, const char* name, int chain) const {
  const std::optional<uint64_t> count = tags_.Get(tag);
  if (!count.has_value() || *count == static_cast<uint64_t>(chain)) return absl::OkStatus();
  return Fail(absl::StrCat(name, " is ", *count, " but the chain has ", chain, " entries"));
}

absl::Status TableChecker::CheckVersionNeeds() {
  if (!tags_.Has(DT_VERNEED)) return absl::OkStatus();
  uint64_t address = *tags_.Get(DT_VERNEED);
  for (int entries = 0, needs = 1;; ++entries, ++needs) {
    if (entries > kMaxVersionEntries || !image_.FileOffsetOf(address, sizeof(Elf64_Verneed))) {
      return Fail(absl::StrCat("the version needs (DT_VERNEED) run outside the file at 0x",
                               absl::Hex(address)));
    }
    const auto need = image_.ReadAt<Elf64_Verneed>(address);
    if (absl::Status s = CheckString(need.vn_file, "DT_VERNEED file"); !s.ok()) return s;
    // ld.so asserts that the file is one of the object's dependencies.
    const char* file = file_.bytes().data() + *image_.FileOffsetOf(strtab_ + need.vn_file, 1);
    bool needed = false;
    for (uint64_t offset : tags_.needed()) {
      const char* name = file_.bytes().data() + *image_.FileOffsetOf(strtab_ + offset, 1);
      needed = needed || std::string_view(name) == std::string_view(file);
    }
    if (!needed) {
      return Fail(absl::StrCat("DT_VERNEED names ", file, ", which is not a DT_NEEDED library"));
    }
    uint64_t aux = address + need.vn_aux;
    for (;; ++entries) {
      if (entries > kMaxVersionEntries || !image_.FileOffsetOf(aux, sizeof(Elf64_Vernaux))) {
        return Fail(absl::StrCat("the version needs (DT_VERNEED) run outside the file at 0x",
                                 absl::Hex(aux)));
      }
      const auto version = image_.ReadAt<Elf64_Vernaux>(aux);
      if (absl::Status s = CheckString(version.vna_name, "DT_VERNEED version"); !s.ok()) return s;
      max_version_ = std::max<uint64_t>(max_version_, version.vna_other & 0x7fff);
      if (version.vna_next == 0) break;
      aux += version.vna_next;
    }
    if (need.vn_next == 0) return CheckVersionCount(DT_VERNEEDNUM, "DT_VERNEEDNUM", needs);
    address += need.vn_next;
  }
}

absl::Status TableChecker::CheckVersionDefinitions() {
  if (!tags_.Has(DT_VERDEF)) return absl::OkStatus();
  uint64_t address = *tags_.Get(DT_VERDEF);
  for (int entries = 1;; ++entries) {
    if (entries > kMaxVersionEntries || !image_.FileOffsetOf(address, sizeof(Elf64_Verdef))) {
      return Fail(absl::StrCat("the version definitions (DT_VERDEF) run outside the file at 0x",
                               absl::Hex(address)));
    }
    const auto definition = image_.ReadAt<Elf64_Verdef>(address);
    const uint64_t aux = address + definition.vd_aux;
    if (!image_.FileOffsetOf(aux, sizeof(Elf64_Verdaux))) {
      return Fail(absl::StrCat("the version definitions (DT_VERDEF) run outside the file at 0x",
                               absl::Hex(aux)));
    }
    const auto name = image_.ReadAt<Elf64_Verdaux>(aux);
    if (absl::Status s = CheckString(name.vda_name, "DT_VERDEF version"); !s.ok()) return s;
    max_version_ = std::max<uint64_t>(max_version_, definition.vd_ndx & 0x7fff);
    if (definition.vd_next == 0) return CheckVersionCount(DT_VERDEFNUM, "DT_VERDEFNUM", entries);
    address += definition.vd_next;
  }
}

absl::Status TableChecker::CheckSymbol(uint64_t index, const Reader& reader) const {
  if (index >= symbols_) {
    return Fail(absl::StrCat(reader.Describe(), " names symbol ", index, ", past the end of the symbol table (",
                             symbols_, " symbols fit)"));
  }
  const auto symbol = image_.ReadAt<Elf64_Sym>(symtab_ + index * sizeof(Elf64_Sym));
  if (symbol.st_name >= strsz_) {
    return CheckString(symbol.st_name, absl::StrCat("symbol ", index, "'s name"));
  }
  // A defined symbol resolves to the load address plus its value: inside the image, and a
  // function (or the resolver of an indirect one, which the loader calls) in its code.
  const int type = ELF64_ST_TYPE(symbol.st_info);
  if (symbol.st_shndx != SHN_UNDEF && symbol.st_shndx != SHN_ABS &&
      symbol.st_shndx != SHN_COMMON && type != STT_TLS) {
    const Elf64_Phdr* segment = image_.SegmentHolding(symbol.st_value, 0);
    const bool code = type == STT_FUNC || type == STT_GNU_IFUNC;
    if (segment == nullptr || (code && (segment->p_flags & PF_X) == 0)) {
      return Fail(absl::StrCat("symbol ", index, " is defined at 0x", absl::Hex(symbol.st_value),
                               code ? ", outside the module's code" : ", outside the module"));
    }
  }
  if (!tags_.Has(DT_VERSYM)) return absl::OkStatus();
  const uint64_t entry = *tags_.Get(DT_VERSYM) + index * sizeof(Elf64_Half);
  if (!image_.FileOffsetOf(entry, sizeof(Elf64_Half))) {
    return Fail(absl::StrCat("symbol ", index, " has no DT_VERSYM entry inside the file"));
  }
  const uint64_t version = image_.ReadAt<Elf64_Half>(entry) & 0x7fff;
  if (version > max_version_) {  // the loader indexes an array of max_version_ + 1 entries
    return Fail(absl::StrCat("symbol ", index, " has version index ", version,
                             ", but the module's versions end at ", max_version_));
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckGnuHash() const {
  const uint64_t address = *tags_.Get(DT_GNU_HASH);
  if (absl::Status s = CheckTable(DT_GNU_HASH, "DT_GNU_HASH", 16); !s.ok()) return s;
  const auto buckets = image_.ReadAt<uint32_t>(address);
  const auto symbias = image_.ReadAt<uint32_t>(address + 4);
  const auto bloom_words = image_.ReadAt<uint32_t>(address + 8);
  if (buckets == 0 || bloom_words == 0 || !std::has_single_bit(bloom_words)) {
    return Fail(absl::StrCat("DT_GNU_HASH has ", buckets, " buckets and ", bloom_words,
                             " Bloom filter words; the loader needs at least one bucket and a "
                             "power of two of words"));
  }
  const uint64_t bucket_array = address + 16 + uint64_t{8} * bloom_words;
  const uint64_t chains = bucket_array + uint64_t{4} * buckets;
  if (absl::Status s = CheckTable(DT_GNU_HASH, "DT_GNU_HASH", chains - address); !s.ok()) {
    return s;
  }
  // Chains are runs of consecutive symbols, ended by an odd hash value; a sound table walks
  // each hashed symbol once.
  uint64_t steps = 0;
  for (uint64_t b = 0; b < buckets; ++b) {
    const uint64_t first = image_.ReadAt<uint32_t>(bucket_array + 4 * b);
    if (first == 0) continue;
    if (first < symbias) {
      return Fail(absl::StrCat("DT_GNU_HASH bucket ", b, " starts at symbol ", first,
                               ", below the first hashed symbol ", symbias));
    }
    for (uint64_t symbol = first;; ++symbol) {
      const Reader reader{"DT_GNU_HASH bucket", b, false};
      if (++steps > symbols_) {
        return Fail(absl::StrCat(reader.Describe(), " overlaps another bucket's chain"));
      }
      if (absl::Status s = CheckSymbol(symbol, reader); !s.ok()) return s;
      const uint64_t entry = chains + 4 * (symbol - symbias);
      if (!image_.FileOffsetOf(entry, 4)) {
        return Fail(
            absl::StrCat("truncated ELF (", reader.Describe(), "'s chain runs past its segment)"));
      }
      if ((image_.ReadAt<uint32_t>(entry) & 1) != 0) break;
    }
  }
  return absl::OkStatus();
}

absl::Status TableChecker::CheckSysvHash() const {
  const uint64_t address = *tags_.Get(DT_HASH);
  if (absl::Status s = CheckTable(DT_HASH, "DT_HASH", 8); !s.ok()) return s;
  const uint64_t buckets = image_.ReadAt<uint32_t>(address);
  const uint64_t count = image_.ReadAt<uint32_t>(address + 4);
  if (buckets == 0 || count > symbols_) {
    return Fail(absl::StrCat("DT_HASH has ", buckets, " buckets and ", count, " symbols; the "
                             "loader needs a bucket, and ", symbols_, " symbols fit"));
  }
  if (absl::Status s = CheckTable(DT_HASH, "DT_HASH", 8 + 4 * (buckets + count)); !s.ok()) {
    return s;
  }
  // Every symbol is on at most one chain, and chains end: a loop would hang every lookup.
  std::vector<bool> seen(count);
  for (uint64_t b = 0; b < buckets; ++b) {
    for (uint64_t symbol = image_.ReadAt<uint32_t>(address + 8 + 4 * b); symbol != 0;
         symbol = image_.ReadAt<uint32_t>(address + 8 + 4 * (buckets + symbol))) {
      if (symbol >= count || seen[symbol]) {
        return Fail(absl::StrCat("DT_HASH bucket ", b, " reaches symbol ", symbol,
                                 " out of range or twice"));
      }
      seen[symbol] = true;
      if (absl::Status s = CheckSymbol(symbol, Reader{"DT_HASH bucket", b, false}); !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status TableChecker::Check() {
  if (absl::Status s = CheckEntries(); !s.ok()) return s;
  text_relocations_ =
      tags_.Has(DT_TEXTREL) || (tags_.Get(DT_FLAGS).value_or(0) & DF_TEXTREL) != 0;
  if (absl::Status s = CheckPlacement(); !s.ok()) return s;
  if (absl::Status s = CheckVersionNeeds(); !s.ok()) return s;
  if (absl::Status s = CheckVersionDefinitions(); !s.ok()) return s;
  if (tags_.Has(DT_VERSYM) && max_version_ == 0) {
    return Fail("has DT_VERSYM but defines and needs no version (DT_VERDEF, DT_VERNEED)");
  }
  if (max_version_ > 0 && !tags_.Has(DT_VERSYM)) {
    return Fail("has versions (DT_VERDEF, DT_VERNEED) but no DT_VERSYM");
  }
  // glibc looks symbols up through the GNU table when there is one, else the SysV one.
  absl::Status hash = tags_.Has(DT_GNU_HASH) ? CheckGnuHash() : CheckSysvHash();
  if (!hash.ok()) return hash;
  if (absl::Status s = CheckRela(DT_RELA, DT_RELASZ, "DT_RELA"); !s.ok()) return s;
  if (absl::Status s = CheckRela(DT_JMPREL, DT_PLTRELSZ, "DT_JMPREL"); !s.ok()) return s;
  if (absl::Status s = CheckRelr(); !s.ok()) return s;
  if (absl::Status s = CheckConstructors(DT_INIT_ARRAY, DT_INIT_ARRAYSZ, "DT_INIT_ARRAY");
      !s.ok()) {
    return s;
  }
  return CheckConstructors(DT_FINI_ARRAY, DT_FINI_ARRAYSZ, "DT_FINI_ARRAY");
}

absl::Status CheckDynamicTables(const LoadedImage& image, const DynamicTags& tags) {
  return TableChecker(image, tags).Check();
}

}  // namespace fnhost
