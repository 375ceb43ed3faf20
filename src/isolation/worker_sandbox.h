// WorkerSandboxView: the host's view of one worker's sandbox — what the worker reported in force
// (the payload of its ready frame) and its denial page (the memfd that came with it from the
// zygote), read after each call for fnhost_sandbox_denials_total{function,syscall}. The page is
// writable in the worker, so its counts are the worker's word: read as untrusted values only
// (see src/sandbox/denial_counters.h).
//
// Thread-safety: none; the Worker that owns it serialises its calls.

#ifndef FNHOST_SRC_ISOLATION_WORKER_SANDBOX_H_
#define FNHOST_SRC_ISOLATION_WORKER_SANDBOX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "fnhost/zygote.pb.h"
#include "src/sandbox/denial_counters.h"

namespace fnhost::internal {

class WorkerSandboxView {
 public:
  WorkerSandboxView() = default;

  // Takes the denial page's memfd (-1: the worker has none) and the ready frame's payload
  // (empty: no sandbox). DATA_LOSS when either is not what a worker sends.
  absl::Status Start(int denials_fd, std::string_view ready_payload);

  // What the worker has in force; null without a sandbox.
  const zygote::SandboxInForce* in_force() const {
    return in_force_.has_value() ? &*in_force_ : nullptr;
  }

  // The denials counted since the last call, by syscall (count = the new ones). One load from
  // the page when there are none.
  std::vector<sandbox::DenialCount> TakeNewDenials();

 private:
  std::unique_ptr<sandbox::SandboxDenials> page_;
  std::optional<zygote::SandboxInForce> in_force_;
  uint64_t seen_total_ = 0;
  absl::flat_hash_map<int, uint64_t> seen_;  // syscall -> count already reported
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_SANDBOX_H_
