// What the call frames carry besides the request and response bytes (worker_protocol.h), and
// the host-service frames: the encodings both sides of a worker's channel share.
//
// - A request with kFlagContext starts with the call's context: its id, deadline
//   (CLOCK_MONOTONIC nanoseconds: a worker shares the host's clock, as it never gets a time
//   namespace of its own), W3C trace context and request metadata. The header's code says how
//   many bytes of the payload it takes. The worker reads it in place: its metadata array points
//   into the received payload.
// - A response with kFlagContext ends with the response metadata the module set, and the size
//   of that block in its last 4 bytes.
// - kHostCall: the service id, the method and the request; kHostCallReply: the service's status
//   code in the header, its response (or error message) as the payload.
// Integers are little-endian and fixed-width. A reader never trusts its peer: a block that
// does not add up is DATA_LOSS.
//
// Thread-safety: the functions keep no state; each call has its own buffers.

#ifndef FNHOST_SRC_ISOLATION_CALL_FRAMES_H_
#define FNHOST_SRC_ISOLATION_CALL_FRAMES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/abi.h"
#include "src/runtime/call_record.h"

namespace fnhost::internal {

// The longest method name a kHostCall may carry.
inline constexpr size_t kMaxMethodBytes = 256;

// Host side: the context block of `record`'s call, into `out` (cleared first).
void EncodeRequestContext(const CallRecord& record, std::string* out);

// Worker side: the context of a call, viewing the received payload.
struct RequestContext {
  std::string_view call_id;
  int64_t deadline_ns = FNHOST_NO_DEADLINE;
  std::string_view traceparent;
  std::string_view tracestate;
  std::vector<fnhost_host_metadata> metadata;  // reused from call to call
};
absl::Status DecodeRequestContext(std::string_view block, RequestContext* context);

// Worker side: appends the response metadata block to `payload`.
void AppendResponseMetadata(const std::vector<std::pair<std::string, std::string>>& metadata,
                            std::string* payload);
// Host side: takes the response metadata block off the end of `payload` and sets each pair
// on `record`. DATA_LOSS for a block that does not add up or a pair the record refuses.
absl::Status TakeResponseMetadata(std::string* payload, CallRecord& record);

// A module's call_host, as a kHostCall carries it.
struct HostCall {
  uint64_t service_id = 0;
  std::string_view method;
  std::string_view request;
};
void EncodeHostCall(const HostCall& call, std::string* out);
// DATA_LOSS for a payload too short for its fields, or a method above kMaxMethodBytes.
absl::Status DecodeHostCall(std::string_view payload, HostCall* call);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_CALL_FRAMES_H_
