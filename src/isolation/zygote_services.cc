#include "src/isolation/zygote_services.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/isolation/call_frames.h"
#include "src/runtime/service_request.h"

namespace fnhost::internal {
namespace {

const absl::Time kNoDeadline = absl::InfiniteFuture();

}  // namespace

int32_t ZygoteServices::RequireService(std::string_view name, uint32_t min_version,
                                       uint32_t forms, fnhost_host_service* service,
                                       std::string* message) {
  ServiceDescription description;
  for (const runtime::ServiceOffer& offer : config_.offer()) {
    if (offer.name() != name) continue;
    description.found = true;
    description.granted = offer.granted();
    description.version = offer.version();
    description.has_typed = offer.typed();
    description.id = offer.id();
    break;
  }
  return AnswerServiceRequest(config_.function_name(), name, description, min_version, forms,
                              service, message);
}

int32_t ZygoteServices::CallHost(uint64_t service_id, std::string_view method,
                                 std::string_view request, std::string* response) {
  if (method.size() > kMaxMethodBytes) {
    *response = absl::StrCat("method name of ", method.size(), " bytes is above ",
                             kMaxMethodBytes);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  EncodeHostCall(HostCall{service_id, method, request}, &frame_);
  if (frame_.size() > kMaxControlBytes) {
    *response = absl::StrCat("a host call at init carries at most ", kMaxControlBytes, " bytes");
    return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  }
  FrameHeader header;
  absl::Status io = SendFrame(channel_, FrameType::kHostCall, 0, 0, frame_, kNoDeadline);
  if (io.ok()) io = RecvFrame(channel_, kMaxControlBytes, kNoDeadline, &header, response);
  // Without its host, this process has nothing left to do.
  if (!io.ok() || header.type != FrameType::kHostCallReply) ::_exit(kExitChannelBroken);
  return header.code;
}

void ZygoteServices::Log(int32_t level, std::string_view message) {
  level = std::clamp(level, FNHOST_LOG_DEBUG, FNHOST_LOG_ERROR);
  message = message.substr(0, kMaxControlBytes);
  if (!SendFrame(channel_, FrameType::kLog, level, 0, message, kNoDeadline).ok()) {
    ::_exit(kExitChannelBroken);
  }
}

bool ForwardToHost(int builder, int control, const FrameHeader& header,
                   std::string_view payload) {
  if (!SendFrame(control, header.type, header.code, 0, payload, kNoDeadline).ok()) return false;
  if (header.type != FrameType::kHostCall) return true;
  FrameHeader reply;
  std::string answer;
  if (!RecvFrame(control, kMaxControlBytes, kNoDeadline, &reply, &answer).ok() ||
      reply.type != FrameType::kHostCallReply) {
    return false;
  }
  return SendFrame(builder, reply.type, reply.code, 0, answer, kNoDeadline).ok();
}

}  // namespace fnhost::internal
