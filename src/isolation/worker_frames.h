// The host's side of the frames a worker sends besides the answer the host waits for: a
// module's host-service call (kHostCall, answered with kHostCallReply) and its log lines
// (kLog). Separate from any receive loop: the synchronous one (Worker, the zygote's start) and
// an event loop that completes calls as frames arrive call it alike, for each frame that is
// not the response.
//
// The service runs on the calling thread, with the function's grants (FunctionServices): an id
// the function was not given gets INVALID_ARGUMENT back, as in process. A frame that does not
// parse, is above its bounds (a method above kMaxMethodBytes; the channel's frame bound caps
// the rest) or has a type the host does not expect here is DATA_LOSS: the caller treats the
// worker as broken (a protocol error), kills and replaces it, and keeps serving.
//
// Thread-safety: the function keeps no state; one caller per channel at a time.

#ifndef FNHOST_SRC_ISOLATION_WORKER_FRAMES_H_
#define FNHOST_SRC_ISOLATION_WORKER_FRAMES_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/isolation/worker_protocol.h"
#include "src/runtime/function_services.h"

namespace fnhost::internal {

// Whether a frame of `type` is one HandleWorkerFrame answers.
inline bool IsHostServiceFrame(FrameType type) {
  return type == FrameType::kHostCall || type == FrameType::kLog;
}

// Answers one such frame received on `fd`. `services`: the function's (null: none, every call
// is refused); `call_id`: the call it belongs to (empty at init); `scratch`: the service's
// response buffer, reused; `ring`: bumped after a reply is sent (the peer's doorbell), or null;
// `max_reply`: the largest reply the peer reads (a larger response becomes
// RESOURCE_EXHAUSTED). OK once answered; DATA_LOSS as above; the channel's error when the reply
// cannot be sent.
absl::Status HandleWorkerFrame(int fd, const FrameHeader& header, std::string_view payload,
                               const FunctionServices* services, std::string_view call_id,
                               absl::Time deadline, uint32_t max_reply, std::string* scratch,
                               std::atomic<uint32_t>* ring);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_FRAMES_H_
