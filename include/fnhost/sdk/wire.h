// The little-endian, fixed-width encoding of the built-in services' bytes forms
// (fnhost/builtin_services.h): how the SDK's metrics and kv clients write their requests and
// read their responses. Internal to the SDK; stateless.

#ifndef FNHOST_SDK_WIRE_H_
#define FNHOST_SDK_WIRE_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fnhost::sdk::internal {

static_assert(std::endian::native == std::endian::little,
              "the built-in services' bytes forms are little-endian, as this host is");

// Appends `value`'s bytes (a u32, i64 or f64) to `out`.
template <typename T>
void AppendFixed(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// A message of a u32 id and one 8-byte value, built on the stack (the per-call methods).
struct IdAndValue {
  char bytes[12];

  template <typename T>
  IdAndValue(uint32_t id, T value) {
    static_assert(sizeof(T) == 8);
    std::memcpy(bytes, &id, 4);
    std::memcpy(bytes + 4, &value, 8);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};

// Reads a u32 message; false when `bytes` is not exactly one.
inline bool ReadU32(std::string_view bytes, uint32_t* value) {
  if (bytes.size() != sizeof(uint32_t)) return false;
  std::memcpy(value, bytes.data(), sizeof(uint32_t));
  return true;
}

}  // namespace fnhost::sdk::internal

#endif  // FNHOST_SDK_WIRE_H_
