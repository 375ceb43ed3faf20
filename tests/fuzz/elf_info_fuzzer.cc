// libFuzzer target for ParseElfInfo: any bytes must give an error or a consistent ElfInfo, with
// no read outside the input (AddressSanitizer) and no undefined behaviour (UBSan).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/loader/elf_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<fnhost::ElfInfo> info = fnhost::ParseElfInfo(bytes, "fuzz.so");
  if (info.ok()) {
    if (info->file_size != size || info->build_id.size() % 2 != 0) __builtin_trap();
    for (const std::string& name : info->needed) {
      if (name.find('\0') != std::string::npos) __builtin_trap();
    }
  } else if (info.status().message().substr(0, 9) != "fuzz.so: ") {
    __builtin_trap();
  }
  return 0;
}
