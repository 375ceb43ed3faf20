// TableChecker: the second half of the load checks (elf_validate.h), over the dynamic entries
// and the tables they point to, as glibc's loader reads them after mapping the file. Private to
// src/loader: elf_tables.cc holds the tables, hash tables and versions, elf_relocations.cc the
// relocations and the constructor arrays. One checker per file; thread-compatible.

#ifndef FNHOST_SRC_LOADER_ELF_TABLES_H_
#define FNHOST_SRC_LOADER_ELF_TABLES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/loader/elf_image.h"

#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#define DT_RELR 36
#define DT_RELRENT 37
#endif

namespace fnhost {

#if defined(__x86_64__)
inline constexpr uint32_t kRelativeRelocation = R_X86_64_RELATIVE;
inline constexpr uint32_t kIndirectRelocation = R_X86_64_IRELATIVE;
#elif defined(__aarch64__)
inline constexpr uint32_t kRelativeRelocation = R_AARCH64_RELATIVE;
inline constexpr uint32_t kIndirectRelocation = R_AARCH64_IRELATIVE;
#endif

// Who reads a symbol or writes a relocation, for messages, which are built only on failure
// (the checks run at every load): "relocation 3 of DT_RELA", "DT_GNU_HASH bucket 5".
struct Reader {
  const char* table;
  uint64_t index;
  bool relocation;

  std::string Describe() const {
    return relocation ? absl::StrCat("relocation ", index, " of ", table)
                      : absl::StrCat(table, " ", index);
  }
};

class TableChecker {
 public:
  TableChecker(const LoadedImage& image, const DynamicTags& tags)
      : image_(image), file_(image.file()), tags_(tags) {}

  absl::Status Check();

 private:
  absl::Status CheckEntries() const;
  absl::Status CheckPlacement();
  // [address of `tag`, + size) must be file bytes of one segment.
  absl::Status CheckTable(int64_t tag, const char* name, uint64_t size) const;
  absl::Status CheckSizedTable(int64_t tag, int64_t size_tag, const char* name,
                               uint64_t entry_size) const;
  absl::Status CheckString(uint64_t offset, absl::string_view what) const;
  absl::Status CheckVersionCount(int64_t tag, const char* name, int chain) const;
  absl::Status CheckVersionNeeds();
  absl::Status CheckVersionDefinitions();
  absl::Status CheckGnuHash() const;
  absl::Status CheckSysvHash() const;
  // A symbol that the loader reads: in the table, named inside the string table, and with a
  // version index inside the module's version array.
  absl::Status CheckSymbol(uint64_t index, const Reader& reader) const;
  // elf_relocations.cc: every relocation writes inside a segment the loader may write, and
  // every constructor and destructor the loader calls is code of the module.
  absl::Status CheckRela(int64_t tag, int64_t size_tag, const char* name) const;
  absl::Status CheckRelr() const;
  absl::Status CheckRelocationTarget(uint64_t address, const Reader& writer) const;
  absl::Status CheckConstructors(int64_t tag, int64_t size_tag, const char* name) const;
  absl::Status Fail(absl::string_view cause) const { return file_.Malformed(cause); }

  const LoadedImage& image_;
  const ElfBytes& file_;
  const DynamicTags& tags_;
  uint64_t strtab_ = 0;
  uint64_t strsz_ = 0;
  uint64_t symtab_ = 0;
  uint64_t symbols_ = 0;  // how many symbols fit between DT_SYMTAB and its segment's end
  uint64_t max_version_ = 0;
  bool text_relocations_ = false;  // DT_TEXTREL: relocations may write read-only segments
};

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_TABLES_H_
