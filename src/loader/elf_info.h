// Reads the identity and dependencies of a module file from its ELF headers, without loading
// it, and checks that the file can be a module of this process (right class, byte order,
// machine and type). The file is untrusted input: every offset in it is bounds-checked.
// Stateless; the functions are thread-safe.

#ifndef FNHOST_SRC_LOADER_ELF_INFO_H_
#define FNHOST_SRC_LOADER_ELF_INFO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fnhost {

struct ElfInfo {
  // Lower-case hex of the NT_GNU_BUILD_ID note; empty if the file has none.
  std::string build_id;
  // DT_NEEDED entries, in file order.
  std::vector<std::string> needed;
  // DT_SONAME; empty if none.
  std::string soname;
  uint64_t file_size = 0;
};

// Maps the file at `path` and calls ParseElfInfo on its bytes. A missing file is NOT_FOUND; a
// directory or other non-regular file is FAILED_PRECONDITION.
absl::StatusOr<ElfInfo> ReadElfInfo(const std::string& path);

// Parses the ELF header, program headers, dynamic section and notes in `bytes`. A malformed or
// truncated file is INVALID_ARGUMENT; a well-formed ELF file that this process cannot load as a
// module (32-bit, big-endian, another machine, an executable, no dynamic section) is
// FAILED_PRECONDITION. Messages start with `path_for_messages`.
absl::StatusOr<ElfInfo> ParseElfInfo(std::string_view bytes, const std::string& path_for_messages);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_INFO_H_
