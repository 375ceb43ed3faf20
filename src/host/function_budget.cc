// Function's side of the host's memory budget (memory_budget.h): the member the budget asks for
// idle instances, and the charges of instances created off the request path (prewarms, staged
// versions). The calls' instances are charged by the pool (pool_budget.cc).

#include "absl/strings/cord.h"
#include "src/common/function_error.h"
#include "src/host/function.h"

namespace fnhost::internal {
namespace {

// Room made for an instance may be taken by another caller before this one charges it: it
// tries again, this many times.
constexpr int kRoomTries = 4;

}  // namespace

bool Function::EvictOldestIdle(absl::Time idle_since, absl::Time now) {
  Pool::Garbage garbage;
  if (!pool_.EvictForBudget(idle_since, now, &garbage)) return false;
  Destroy(garbage);
  return true;
}

absl::Status Function::ChargeStagedInstance(bool make_room) {
  MemoryBudget* budget = host_.budget;
  if (budget == nullptr) return absl::OkStatus();
  const int64_t bytes = pool_.instance_bytes();
  for (int tries = 0; tries < kRoomTries; ++tries) {
    if (budget->TryCharge(bytes)) return absl::OkStatus();
    // Any function's idle instances may go, this one's too: a reload's old version is about to
    // retire.
    if (!make_room || !budget->MakeRoom(bytes, /*requester=*/nullptr, host_.CoarseNow())) break;
  }
  return NoRoomError("the new version's instance");
}

absl::Status Function::MakeRoomForPrewarm(bool make_room, int tries) {
  if (make_room && tries <= kRoomTries &&
      host_.budget->MakeRoom(pool_.instance_bytes(), this, host_.CoarseNow())) {
    return absl::OkStatus();
  }
  return NoRoomError("a prewarmed instance");
}

void Function::WakeMemoryWaiters() {
  Pool::Garbage garbage;
  pool_.WakeMemoryWaiters(&garbage);
  Destroy(garbage);
}

void Function::FreeMemory(int instances) {
  if (host_.budget != nullptr) host_.budget->Free(instances * pool_.instance_bytes());
}

absl::Status Function::NoRoomError(std::string_view what) const {
  absl::Status status = absl::ResourceExhaustedError(FunctionMessage(
      spec_.name, what, " (", spec_.pool.keep_alive.instance_memory_mb,
      " MB) does not fit in the host's memory budget (", host_.budget->capacity_mb(),
      " MB): every instance holding it is busy"));
  status.SetPayload(kRejectionPayloadUrl, absl::Cord("memory_budget"));
  return status;
}

}  // namespace fnhost::internal
