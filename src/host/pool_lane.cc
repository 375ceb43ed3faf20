// The Pool's fast lane: warm calls from many threads without the lock (see pool.h).

#include <utility>

#include "src/common/cpu_relax.h"
#include "src/host/pool.h"

namespace fnhost::internal {
namespace {

// Where a thread starts looking in a lane: a different place for each thread, then the
// instance it took last, so that threads settle on instances of their own.
uint32_t& LaneHint() {
  static std::atomic<uint32_t> next{0};
  thread_local uint32_t hint = next.fetch_add(1, std::memory_order_relaxed);
  return hint;
}

}  // namespace

bool Pool::TryAcquireFast(Lease* lease) {
  if (!lane_open_.load(std::memory_order_acquire)) return false;
  const int size = lane_size_.load(std::memory_order_acquire);
  uint32_t& hint = LaneHint();
  for (int k = 0; k < size; ++k) {
    const int index = static_cast<int>((hint + static_cast<uint32_t>(k)) % size);
    Instance* instance = lane_[index].load(std::memory_order_acquire);
    if (instance == nullptr) continue;
    uint32_t expected = kFree;
    if (instance->lane_state.load(std::memory_order_relaxed) == kFree &&
        instance->lane_state.compare_exchange_strong(expected, kTaken,
                                                     std::memory_order_acquire)) {
      // Read after the exchange: the instance may have been lent anew since the lane was read.
      hint = static_cast<uint32_t>(index);
      *lease = Lease{instance->version, instance, /*cold=*/false, /*fast=*/true};
      return true;
    }
  }
  return false;
}

bool Pool::TryReleaseFast(const Lease& lease) {
  Instance* instance = lease.instance;
  uint32_t expected = kTaken;
  if (!instance->lane_state.compare_exchange_strong(expected, kReleasing,
                                                    std::memory_order_acquire)) {
    return false;  // revoked: the pool counts the call as running, Release ends it
  }
  instance->idle_since = host_.CoarseNow();
  instance->lane_calls.store(instance->lane_calls.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
  instance->lane_state.store(kFree, std::memory_order_release);
  return true;
}

bool Pool::LaneAllowed() const {
  const Version* stable = versions_.stable();
  return open_ && queue_.empty() && versions_.canary() == nullptr &&
         stable->pool_.load_state == Version::LoadState::kReady && !stable->pool_.retired &&
         !stable->invokes_async() && stable->concurrency() == 1 &&
         spec_.pool.keep_alive.kind == KeepAliveOptions::Kind::kFixed;
}

void Pool::MaybeOpenLane() {
  if (!LaneAllowed()) return;
  std::vector<Instance*>& free_slots = versions_.stable()->pool_.free_slots;
  int size = lane_size_.load(std::memory_order_relaxed);
  while (!free_slots.empty() && size < kLaneSlots) {
    Instance* instance = free_slots.back();
    free_slots.pop_back();
    instance->ever_lent = true;
    instance->lane_state.store(kFree, std::memory_order_release);
    lane_[size].store(instance, std::memory_order_release);
    lane_size_.store(++size, std::memory_order_release);
  }
  if (size > 0) lane_open_.store(true, std::memory_order_release);
}

void Pool::RevokeLane() {
  const int size = lane_size_.load(std::memory_order_relaxed);
  if (size == 0) return;
  lane_open_.store(false, std::memory_order_seq_cst);
  for (int i = 0; i < size; ++i) {
    Instance* instance = lane_[i].load(std::memory_order_relaxed);
    for (;;) {
      uint32_t state = kFree;
      if (instance->lane_state.compare_exchange_strong(state, kNotLent,
                                                       std::memory_order_acq_rel)) {
        instance->version->pool_.free_slots.push_back(instance);
        calls_ += instance->lane_calls.exchange(0, std::memory_order_relaxed);
        break;
      }
      if (state == kTaken &&
          instance->lane_state.compare_exchange_strong(state, kRevoked,
                                                       std::memory_order_acq_rel)) {
        // A call of the lane runs on it: counted busy from now, ended by Release.
        ++instance->inflight;
        ++instance->version->pool_.inflight;
        ++inflight_;
        keep_alive_.OnInstanceBusy(host_.CoarseNow());
        break;
      }
      CpuRelax();  // kReleasing: it is becoming free
    }
    lane_[i].store(nullptr, std::memory_order_relaxed);
  }
  lane_size_.store(0, std::memory_order_release);
}

std::unique_ptr<Instance> Pool::NewInstanceRecord() {
  if (spare_instances_.empty()) return std::make_unique<Instance>();
  std::unique_ptr<Instance> reused = std::move(spare_instances_.back());
  spare_instances_.pop_back();
  reused->inflight = 0;
  return reused;
}

}  // namespace fnhost::internal
