// WorkerCall: the call context (fnhost_host_call_context, include/fnhost/abi.h) of one call in a
// worker process. It is built from the context block of the request frame (call_frames.h), in
// place: the metadata array points into the received payload. Its callbacks speak to the host
// over the worker's channel: a log line is a kLog frame, sent at once (so that the lines before a
// crash reach the host); call_host is a kHostCall frame, and the worker waits for the
// kHostCallReply; response metadata is collected here and goes out with the response frame.
// The cancelled flag is the one on the worker's shared page, which the host sets.
//
// Not thread-safe: the module's callbacks run one at a time (abi.h), and the worker serves one
// call at a time.

#ifndef FNHOST_SRC_ISOLATION_WORKER_CALL_H_
#define FNHOST_SRC_ISOLATION_WORKER_CALL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/abi.h"
#include "src/isolation/call_frames.h"
#include "src/isolation/worker_protocol.h"

namespace fnhost::internal {

class WorkerCall {
 public:
  // `bell` may be null (no shared page: never cancelled, no spinning); `spin` is the worker's
  // policy for waits on its channel. Both must outlive this.
  WorkerCall(Doorbell* bell, SpinPolicy* spin, uint32_t max_message_bytes);
  WorkerCall(const WorkerCall&) = delete;
  WorkerCall& operator=(const WorkerCall&) = delete;

  // Starts a call whose context is `block` (empty: the call has none). DATA_LOSS for a block
  // that does not parse.
  absl::Status Begin(std::string_view block);
  const fnhost_host_call_context* raw() const { return &raw_; }
  const std::vector<std::pair<std::string, std::string>>& response_metadata() const {
    return response_metadata_;
  }

 private:
  static int32_t SetResponseMetadata(void* self, fnhost_module_bytes key,
                                     fnhost_module_bytes value);
  static int32_t CallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                          fnhost_module_bytes request, fnhost_host_bytes* response);
  static void Log(void* self, int32_t level, const char* message, size_t size);
  // Sends a frame to the host and rings the doorbell; a host that is gone ends the worker.
  void Send(FrameType type, int32_t code, std::string_view payload);

  Doorbell* const bell_;
  SpinPolicy* const spin_;
  const uint32_t max_message_bytes_;
  RequestContext context_;
  std::vector<std::pair<std::string, std::string>> response_metadata_;
  std::string frame_;  // an encoded kHostCall, reused
  std::string reply_;  // what the latest call_host lent
  fnhost_host_call_context raw_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_CALL_H_
