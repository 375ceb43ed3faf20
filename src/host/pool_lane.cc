// The Pool's fast lane: warm calls from many threads without the lock (see pool.h).

#include <algorithm>
#include <memory>
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
  LaneSlot* lane = lane_.load(std::memory_order_acquire);
  const int size = lane_size_.load(std::memory_order_acquire);
  uint32_t& hint = LaneHint();
  for (int k = 0; k < size; ++k) {
    const int index = static_cast<int>((hint + static_cast<uint32_t>(k)) % size);
    LaneSlot& slot = lane[index];
    uint32_t expected = kFree;
    if (slot.state.load(std::memory_order_relaxed) == kFree &&
        slot.state.compare_exchange_strong(expected, kTaken, std::memory_order_acquire)) {
      // Read after the exchange: the slot may have been lent anew since the lane was read.
      hint = static_cast<uint32_t>(index);
      Instance* instance = slot.instance;
      *lease = Lease{instance->version, instance, /*cold=*/false, /*fast=*/true, index};
      return true;
    }
  }
  return false;
}

bool Pool::TryReleaseFast(const Lease& lease) {
  LaneSlot& slot = lane_.load(std::memory_order_relaxed)[lease.lane_slot];
  uint32_t expected = kTaken;
  if (!slot.state.compare_exchange_strong(expected, kReleasing, std::memory_order_acquire)) {
    return false;  // revoked: the pool counts the call as running, Release ends it
  }
  slot.idle_since = host_.CoarseNow();
  ++slot.calls;
  slot.state.store(kFree, std::memory_order_release);
  return true;
}

bool Pool::LaneAllowed() const {
  const Version* stable = versions_.stable();
  return open_ && queue_.empty() && versions_.canary() == nullptr &&
         stable->pool_.load_state == Version::LoadState::kReady && !stable->pool_.retired &&
         !stable->invokes_async() &&
         spec_.pool.keep_alive.kind == KeepAliveOptions::Kind::kFixed;
}

void Pool::MaybeOpenLane() {
  if (!LaneAllowed()) return;
  std::vector<Instance*>& free_slots = versions_.stable()->pool_.free_slots;
  if (free_slots.empty()) return;
  if (lane_slots_ == nullptr) {
    lane_slots_ = std::make_unique<LaneSlot[]>(kLaneSlots);
    lane_.store(lane_slots_.get(), std::memory_order_release);
  }
  int size = lane_size_.load(std::memory_order_relaxed);
  // A slot revoked while taken stays out until its call's Release.
  for (int i = 0; i < kLaneSlots && !free_slots.empty(); ++i) {
    LaneSlot& slot = lane_slots_[i];
    if (slot.state.load(std::memory_order_relaxed) != kNotLent) continue;
    slot.instance = free_slots.back();
    slot.idle_since = absl::InfinitePast();
    free_slots.pop_back();
    slot.state.store(kFree, std::memory_order_release);
    if (i >= size) lane_size_.store(size = i + 1, std::memory_order_release);
  }
  lane_open_.store(true, std::memory_order_release);
}

void Pool::RevokeLane() {
  const int size = lane_size_.load(std::memory_order_relaxed);
  if (size == 0) return;
  lane_open_.store(false, std::memory_order_seq_cst);
  for (int i = 0; i < size; ++i) {
    LaneSlot& slot = lane_slots_[i];
    for (;;) {
      uint32_t state = kFree;
      if (slot.state.compare_exchange_strong(state, kNotLent, std::memory_order_acq_rel)) {
        Instance* instance = slot.instance;
        instance->version->pool_.free_slots.push_back(instance);
        instance->idle_since = std::max(instance->idle_since, slot.idle_since);
        break;
      }
      if (state == kTaken &&
          slot.state.compare_exchange_strong(state, kRevoked, std::memory_order_acq_rel)) {
        // A call of the lane runs on it: counted busy from now, ended by Release.
        Instance* instance = slot.instance;
        if (instance->inflight++ == 0) keep_alive_.OnInstanceBusy(host_.CoarseNow());
        ++instance->version->pool_.inflight;
        ++inflight_;
        break;
      }
      if (state == kNotLent || state == kRevoked) break;  // not lent, or revoked before
      if (state == kReleasing) CpuRelax();                  // it is becoming free
    }
    calls_ += std::exchange(slot.calls, 0);
  }
  lane_size_.store(0, std::memory_order_release);
}

}  // namespace fnhost::internal
