#include "src/isolation/worker_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <new>

#include "src/common/file_system.h"

namespace fnhost::internal {
namespace {

uint64_t AddressSpaceBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  in >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

bool hit_memory_limit = false;

// Installed in workers with a memory limit: notes that the limit was reached, then fails the
// allocation as operator new would.
void OnOutOfMemory() {
  hit_memory_limit = true;
  throw std::bad_alloc();
}

}  // namespace

absl::Status ApplyWorkerLimits(const zygote::WorkerLimits& limits, std::string_view function) {
  if (limits.memory_limit_bytes() == 0) return absl::OkStatus();
  // After the state, built here or not: the limit is on what the worker adds beyond it.
  const uint64_t limit = AddressSpaceBytes() + limits.memory_limit_bytes();
  const rlimit address_space{limit, limit};
  if (::setrlimit(RLIMIT_AS, &address_space) != 0) {
    return ErrnoError(errno, "setrlimit(RLIMIT_AS) in a worker of", function);
  }
  CatchMemoryLimit();
  return absl::OkStatus();
}

void CatchMemoryLimit() { std::set_new_handler(&OnOutOfMemory); }

bool HitMemoryLimit() { return hit_memory_limit; }
void ClearMemoryLimitHit() { hit_memory_limit = false; }

}  // namespace fnhost::internal
