#include "src/isolation/worker_call.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/runtime/call_record.h"

namespace fnhost::internal {
namespace {

constexpr int32_t kNeverCancelled = 0;
const absl::Time kNoDeadline = absl::InfiniteFuture();

std::string_view View(const char* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(data, size);
}

fnhost_host_bytes Lend(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

}  // namespace

WorkerCall::WorkerCall(Doorbell* bell, SpinPolicy* spin, uint32_t max_message_bytes)
    : bell_(bell), spin_(spin), max_message_bytes_(max_message_bytes) {}

absl::Status WorkerCall::Begin(std::string_view block) {
  if (!block.empty()) {
    if (absl::Status status = DecodeRequestContext(block, &context_); !status.ok()) {
      return status;
    }
  } else {
    context_.call_id = context_.traceparent = context_.tracestate = {};
    context_.deadline_ns = FNHOST_NO_DEADLINE;
    context_.metadata.clear();
  }
  response_metadata_.clear();
  raw_ = fnhost_host_call_context{
      .struct_size = sizeof(fnhost_host_call_context),
      .reserved = 0,
      .host_data = this,
      .call_id = Lend(context_.call_id),
      .deadline_ns = context_.deadline_ns,
      .cancelled = bell_ != nullptr ? &bell_->cancelled : &kNeverCancelled,
      .request_metadata = context_.metadata.data(),
      .request_metadata_count = context_.metadata.size(),
      .traceparent = Lend(context_.traceparent),
      .tracestate = Lend(context_.tracestate),
      .logger = {this, &WorkerCall::Log},
      .set_response_metadata = &WorkerCall::SetResponseMetadata,
      .call_host = &WorkerCall::CallHost,
  };
  return absl::OkStatus();
}

void WorkerCall::Send(FrameType type, int32_t code, std::string_view payload) {
  if (!SendFrame(kChildChannelFd, type, code, 0, payload, kNoDeadline).ok()) {
    ::_exit(kExitChannelBroken);
  }
  if (bell_ != nullptr) bell_->response.fetch_add(1, std::memory_order_release);
}

int32_t WorkerCall::SetResponseMetadata(void* self, fnhost_module_bytes key,
                                        fnhost_module_bytes value) {
  auto* call = static_cast<WorkerCall*>(self);
  return SetResponseMetadataPair(&call->response_metadata_, View(key.data, key.size),
                                 View(value.data, value.size));
}

int32_t WorkerCall::CallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                             fnhost_module_bytes request, fnhost_host_bytes* response) {
  auto* call = static_cast<WorkerCall*>(self);
  const std::string_view method_name = View(method.data, method.size);
  EncodeHostCall(HostCall{service_id, method_name, View(request.data, request.size)},
                 &call->frame_);
  if (method_name.size() > kMaxMethodBytes || call->frame_.size() > call->max_message_bytes_) {
    call->reply_ = absl::StrCat("host call of ", call->frame_.size(), " bytes (method of ",
                                method_name.size(), ") is above the channel's bounds");
    if (response != nullptr) *response = Lend(call->reply_);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  // Read before the call leaves, so that the host's ring after its reply cannot come before.
  Doorbell* bell = call->bell_;
  BellWait wait{bell != nullptr ? &bell->request : nullptr,
                bell != nullptr ? bell->request.load(std::memory_order_acquire) : 0, call->spin_};
  call->Send(FrameType::kHostCall, 0, call->frame_);
  FrameHeader header;
  if (!RecvCallFrame(kChildChannelFd, call->max_message_bytes_, kNoDeadline, &header,
                     &call->reply_, bell != nullptr ? &wait : nullptr)
           .ok() ||
      header.type != FrameType::kHostCallReply) {
    ::_exit(kExitChannelBroken);
  }
  if (response != nullptr) *response = Lend(call->reply_);
  return header.code;
}

void WorkerCall::Log(void* self, int32_t level, const char* message, size_t size) {
  auto* call = static_cast<WorkerCall*>(self);
  std::string_view text = View(message, size);
  call->Send(FrameType::kLog, std::clamp(level, FNHOST_LOG_DEBUG, FNHOST_LOG_ERROR),
             text.substr(0, call->max_message_bytes_));
}

}  // namespace fnhost::internal
