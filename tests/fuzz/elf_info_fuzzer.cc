// libFuzzer target for ParseElfInfo on arbitrary bytes: any input gives an error that names the
// file or an ElfInfo that keeps the load checks' promises (elf_invariants.h), with no read
// outside the input (AddressSanitizer) and no undefined behaviour (UBSan).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/loader/elf_info.h"
#include "tests/fuzz/elf_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fnhost::fuzz::CheckElfInvariants(bytes, "fuzz.so", fnhost::ParseElfInfo(bytes, "fuzz.so"));
  return 0;
}
