#include "src/runtime/call_ids.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>

namespace fnhost::internal {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void WriteHex(uint64_t value, char* out) {
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[value & 0xf];
    value >>= 4;
  }
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(std::string_view text) {
  return text.find_first_not_of('0') == std::string_view::npos;
}

// splitmix64 over a per-thread state seeded once from the system's entropy.
uint64_t RandomId() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z != 0 ? z : 1;  // W3C: an all-zero id is invalid
}

}  // namespace

// The next id of the thread's block, in hex: one character changes most of the time.
struct CallIdBlock {
  uint64_t left = 0;  // ids left in the block
  char hex[kCallIdSize];
};

void NewCallId(char* out) {
  constexpr uint64_t kBlock = 1024;
  static std::atomic<uint64_t> next_block{0};
  thread_local CallIdBlock block;
  if (block.left == 0) {
    WriteHex(next_block.fetch_add(kBlock, std::memory_order_relaxed) + 1, block.hex);
    block.left = kBlock;
  } else {
    for (int i = kCallIdSize - 1; i >= 0; --i) {  // add 1, in hex
      char& c = block.hex[i];
      if (c == 'f') {
        c = '0';
        continue;
      }
      c = c == '9' ? 'a' : static_cast<char>(c + 1);
      break;
    }
  }
  --block.left;
  std::memcpy(out, block.hex, kCallIdSize);
}

void NewSpanId(char* out) { WriteHex(RandomId(), out); }

void TraceIds::FormatTraceparent(char* out) const {
  std::memcpy(out, "00-", 3);
  std::memcpy(out + 3, trace_id, 32);
  out[35] = '-';
  std::memcpy(out + 36, span_id, 16);
  out[52] = '-';
  std::memcpy(out + 53, flags, 2);
}

bool ChildOf(std::string_view traceparent, TraceIds* ids) {
  if (traceparent.size() != kTraceparentSize || traceparent.substr(0, 3) != "00-" ||
      traceparent[35] != '-' || traceparent[52] != '-') {
    return false;
  }
  const std::string_view trace = traceparent.substr(3, 32);
  const std::string_view parent = traceparent.substr(36, 16);
  const std::string_view flags = traceparent.substr(53, 2);
  if (!IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags) || AllZeros(trace) ||
      AllZeros(parent)) {
    return false;
  }
  std::memcpy(ids->trace_id, trace.data(), 32);
  std::memcpy(ids->parent_span_id, parent.data(), 16);
  std::memcpy(ids->flags, flags.data(), 2);
  ids->has_parent = true;
  NewSpanId(ids->span_id);
  return true;
}

void NewTrace(TraceIds* ids) {
  WriteHex(RandomId(), ids->trace_id);
  WriteHex(RandomId(), ids->trace_id + 16);
  NewSpanId(ids->span_id);
  std::memcpy(ids->flags, "01", 2);
  ids->has_parent = false;
}

}  // namespace fnhost::internal
