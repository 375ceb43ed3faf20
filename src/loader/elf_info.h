// Reads the identity and dependencies of a module file from its ELF headers, without loading
// it, and checks that the file can be a module of this process (right class, byte order,
// machine and type) and that glibc's loader can map it without faulting (elf_validate.h). The
// file is untrusted input: every offset in it is bounds-checked.
// Stateless; the functions are thread-safe.

#ifndef FNHOST_SRC_LOADER_ELF_INFO_H_
#define FNHOST_SRC_LOADER_ELF_INFO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fnhost {

// A PT_LOAD segment, as an address range relative to the object's load address.
struct LoadSegment {
  uint64_t address = 0;
  uint64_t size = 0;
  bool executable = false;
};

struct ElfInfo {
  // Lower-case hex of the NT_GNU_BUILD_ID note; empty if the file has none.
  std::string build_id;
  // DT_NEEDED entries, in file order.
  std::vector<std::string> needed;
  // DT_SONAME; empty if none.
  std::string soname;
  // DT_RUNPATH, else DT_RPATH; empty if none.
  std::string runpath;
  uint64_t file_size = 0;
  // The PT_LOAD segments, in ascending address order.
  std::vector<LoadSegment> loads;
};

// Maps the file at `path` and calls ParseElfInfo on its bytes. A missing file is NOT_FOUND; a
// directory or other non-regular file is FAILED_PRECONDITION.
absl::StatusOr<ElfInfo> ReadElfInfo(const std::string& path);

// Parses and checks the ELF header, program headers, dynamic section and tables, and notes in
// `bytes` (see CheckLoadable). A malformed or truncated file is INVALID_ARGUMENT; a well-formed
// ELF file that this process cannot load as a module (32-bit, big-endian, another machine, an
// executable, no dynamic section) is FAILED_PRECONDITION. Messages start with
// `path_for_messages`.
absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes, const std::string& path_for_messages);

// As above, for the first `bytes` of a file of `file_size` bytes that hold at least what
// LoadedExtent says the dynamic loader reads.
absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes, uint64_t file_size,
                                     const std::string& path_for_messages);

// How many leading bytes of a file of `file_size` bytes, which starts with `head`, the dynamic
// loader reads: through its ELF header, its program header table and the file bytes of every
// segment. What follows (debug information, the symbol table, section headers) is for
// debuggers. The whole size when `head` does not hold the headers or they do not make sense,
// so that ParseElfInfo sees all there is to refuse.
uint64_t LoadedExtent(std::string_view head, uint64_t file_size);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_INFO_H_
