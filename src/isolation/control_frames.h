// The control frames of process isolation as protobuf messages (proto/fnhost/zygote.proto),
// carried by the framing of worker_protocol.h: sending one, reading one back into its message,
// and the conversions at the edges (an absl::Status to an Error and back, a StartReport to
// what the host keeps of it). A reader never trusts its peer: a payload that does not parse,
// or holds a value out of range, is DATA_LOSS.
//
// Thread-safety: the functions keep no state; a socket must not carry two frames in the same
// direction at once.

#ifndef FNHOST_SRC_ISOLATION_CONTROL_FRAMES_H_
#define FNHOST_SRC_ISOLATION_CONTROL_FRAMES_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/zygote.pb.h"
#include "google/protobuf/message_lite.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_options.h"

namespace fnhost::internal {

// Sends a frame of `type` whose payload is `message`, attaching `pass_fd` and
// `second_pass_fd` when >= 0.
absl::Status SendControl(int fd, FrameType type, const google::protobuf::MessageLite& message,
                         absl::Time deadline, int pass_fd = -1, int second_pass_fd = -1);

// Reads `payload` into `message`: DATA_LOSS when it does not parse.
absl::Status ParseControl(std::string_view payload, google::protobuf::MessageLite* message);

// A failed step, as an Error frame carries it, and back: an out-of-range code reads as
// UNKNOWN.
zygote::Error ErrorOf(const absl::Status& status);
absl::Status StatusOf(const zygote::Error& error);
// Sends `status` as a kError frame.
absl::Status SendError(int fd, const absl::Status& status, absl::Time deadline);
// Reads a kError frame's payload as the status it carries (DATA_LOSS if it does not parse).
absl::Status ErrorFrameStatus(std::string_view payload);

// What the host keeps of a zygote's StartReport; false when a value is out of range.
bool ReadStartReport(const zygote::StartReport& message, ZygoteStartReport* report);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_CONTROL_FRAMES_H_
