#include "src/isolation/worker_frames.h"

#include "absl/strings/str_cat.h"
#include "src/isolation/call_frames.h"

namespace fnhost::internal {

absl::Status HandleWorkerFrame(int fd, const FrameHeader& header, std::string_view payload,
                               const FunctionServices* services, std::string_view call_id,
                               absl::Time deadline, uint32_t max_reply, std::string* scratch,
                               std::atomic<uint32_t>* ring) {
  if (header.type == FrameType::kLog) {
    if (header.code < FNHOST_LOG_DEBUG || header.code > FNHOST_LOG_ERROR) {
      return absl::DataLossError(absl::StrCat("log frame with level ", header.code));
    }
    if (services != nullptr) services->LogLine(header.code, call_id, payload);
    return absl::OkStatus();
  }
  if (header.type != FrameType::kHostCall) {
    return absl::DataLossError(
        absl::StrCat("unexpected frame type ", static_cast<int>(header.type)));
  }
  HostCall call;
  if (absl::Status status = DecodeHostCall(payload, &call); !status.ok()) return status;
  int32_t code = FNHOST_STATUS_INVALID_ARGUMENT;
  if (services != nullptr) {
    code = services->CallBytes(call.service_id, call_id, call.method, call.request, scratch);
  } else {
    *scratch = absl::StrCat("service id ", call.service_id, " was not given to this function");
  }
  if (scratch->size() > max_reply) {
    code = FNHOST_STATUS_RESOURCE_EXHAUSTED;
    *scratch = absl::StrCat("the service's response of ", scratch->size(),
                            " bytes is above max_message_bytes ", max_reply);
  }
  absl::Status sent = SendFrame(fd, FrameType::kHostCallReply, code, 0, *scratch, deadline);
  if (sent.ok() && ring != nullptr) ring->fetch_add(1, std::memory_order_release);
  return sent;
}

}  // namespace fnhost::internal
