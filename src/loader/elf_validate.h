// The checks that make dlopen safe on an untrusted file: everything in a module file that
// glibc's dynamic loader trusts while it maps the file (_dl_map_segments), reads its dynamic
// section and tables, applies its relocations and looks up its symbols is checked against the
// file's size and the image's bounds first. glibc checks little of this itself: a PT_LOAD
// segment that ends past the end of the file faults (SIGBUS) while it zero-fills the segment's
// tail, a relocation may write anywhere, and a few malformed dynamic entries trip an assertion
// in ld.so that ends the process.
//
// What is not checked is the module's own code and data: damaged instructions or a constructor
// that crashes are the module's bugs, which only process isolation contains.
// Stateless; thread-safe.

#ifndef FNHOST_SRC_LOADER_ELF_VALIDATE_H_
#define FNHOST_SRC_LOADER_ELF_VALIDATE_H_

#include <elf.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/loader/elf_bytes.h"
#include "src/loader/elf_image.h"

namespace fnhost {

// Checks the program headers `segments` (all of them, in file order; the table itself lies in
// the file) and, through them, the dynamic section and the tables it points to. Returns the
// dynamic section's entries. A damaged file is INVALID_ARGUMENT; a sound file that this process
// cannot load is FAILED_PRECONDITION. Messages start with the file's path and name the segment,
// entry or table and the cause, e.g. "truncated ELF (segment 2 ends at byte 16384 but the file
// has 10000 bytes)".
absl::StatusOr<DynamicTags> CheckLoadable(const ElfBytes& file,
                                          const std::vector<Elf64_Phdr>& segments);

// The second half of CheckLoadable: the dynamic entries (glibc's assertions), the placement of
// every table they point to, the symbol hash tables, symbol versions and relocations.
absl::Status CheckDynamicTables(const LoadedImage& image, const DynamicTags& tags);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_ELF_VALIDATE_H_
