// libFuzzer target for the load checks (src/loader/elf_validate.h) deep inside a real module:
// arbitrary bytes rarely get past the ELF header, so each input is a list of edits to
// tests/modules/hello.so instead. Every 13 bytes are one edit: a 4-byte offset (modulo the
// file's size), a width byte (1, 2, 4 or 8 bytes from its low two bits; 0xff cuts the file at
// the offset instead) and an 8-byte value. The edited file must be refused with a message that
// names it, or keep the promises of elf_invariants.h.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "src/loader/elf_info.h"
#include "tests/fuzz/elf_invariants.h"

namespace {

std::string* module_bytes = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::ifstream in(std::string(FNHOST_TEST_MODULE_DIR) + "/hello.so", std::ios::binary);
  module_bytes = new std::string(std::istreambuf_iterator<char>(in), {});
  if (module_bytes->empty()) std::abort();  // built without the test modules
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes = *module_bytes;
  constexpr size_t kEdit = 13;
  for (size_t at = 0; at + kEdit <= size && !bytes.empty(); at += kEdit) {
    uint32_t offset;
    uint64_t value;
    std::memcpy(&offset, data + at, 4);
    std::memcpy(&value, data + at + 5, 8);
    offset %= bytes.size();
    if (data[at + 4] == 0xff) {
      bytes.resize(offset);
      continue;
    }
    const size_t width = std::min<size_t>(size_t{1} << (data[at + 4] & 3), bytes.size() - offset);
    std::memcpy(bytes.data() + offset, &value, width);
  }
  fnhost::fuzz::CheckElfInvariants(bytes, "fuzz.so", fnhost::ParseElfInfo(bytes, "fuzz.so"));
  return 0;
}
