// ZygoteShared: what a Zygote shares with its Workers, which may outlive it: the options, the
// circuit breaker that stops spawning after too many lost workers, and the counters.
//
// Thread-safe.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_SHARED_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_SHARED_H_

#include <cstdint>
#include <deque>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"
#include "src/isolation/zygote_options.h"

namespace fnhost::internal {

struct ZygoteStats {
  int64_t workers_spawned = 0;
  int64_t worker_crashes = 0;   // workers lost during a call or their start, timeouts included
  int64_t worker_timeouts = 0;  // of which killed at invoke_timeout
  int64_t zygote_restarts = 0;
};

class ZygoteShared {
 public:
  explicit ZygoteShared(const ZygoteOptions& options);

  const ZygoteOptions& options() const { return options_; }
  const std::string& function() const { return options_.function_name(); }

  void RecordSpawn();
  void RecordRestart();
  // A worker was lost; opens the breaker at the options' crash_limit within crash_window.
  void RecordCrash(bool timeout);
  // UNAVAILABLE while the breaker is open: "function 'f' is crash-looping (5 worker crashes
  // within 1m); no new workers for another 30s".
  absl::Status CheckBreaker();
  ZygoteStats stats() const;

 private:
  const ZygoteOptions options_;
  mutable Mutex mu_;
  std::deque<absl::Time> crashes_ ABSL_GUARDED_BY(mu_);  // within the window
  absl::Time backoff_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  ZygoteStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_SHARED_H_
