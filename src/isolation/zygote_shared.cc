#include "src/isolation/zygote_shared.h"

#include "src/common/function_error.h"

namespace fnhost::internal {
namespace {

ZygoteOptions WithClock(ZygoteOptions options) {
  if (options.clock == nullptr) options.clock = Clock::Real();
  return options;
}

}  // namespace

ZygoteShared::ZygoteShared(const ZygoteOptions& options) : options_(WithClock(options)) {}

void ZygoteShared::RecordSpawn() {
  MutexLock lock(mu_);
  ++stats_.workers_spawned;
}

void ZygoteShared::RecordRestart() {
  MutexLock lock(mu_);
  ++stats_.zygote_restarts;
}

void ZygoteShared::RecordCrash(bool timeout) {
  MutexLock lock(mu_);
  ++stats_.worker_crashes;
  stats_.worker_timeouts += timeout ? 1 : 0;
  if (options_.crash_limit <= 0) return;
  const absl::Time now = options_.clock->Now();
  crashes_.push_back(now);
  while (!crashes_.empty() && crashes_.front() <= now - options_.crash_window) {
    crashes_.pop_front();
  }
  if (static_cast<int>(crashes_.size()) >= options_.crash_limit) {
    backoff_until_ = now + options_.crash_backoff;
    crashes_.clear();
  }
}

absl::Status ZygoteShared::CheckBreaker() {
  MutexLock lock(mu_);
  const absl::Time now = options_.clock->Now();
  if (now >= backoff_until_) return absl::OkStatus();
  return absl::UnavailableError(FunctionSentence(
      function(), " is crash-looping (", options_.crash_limit, " worker crashes within ",
      absl::FormatDuration(options_.crash_window), "); no new workers for another ",
      absl::FormatDuration(backoff_until_ - now)));
}

ZygoteStats ZygoteShared::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

}  // namespace fnhost::internal
