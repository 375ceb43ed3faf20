#include "src/runtime/call_record.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "src/common/function_error.h"

namespace fnhost::internal {
namespace {

// Per byte: kLowerKey when it may appear in a key, kUpperKey when only in one a module sets
// (the host lowers it). A table: every call checks its metadata keys.
enum KeyChar : uint8_t { kNotKey = 0, kLowerKey = 1, kUpperKey = 2 };
constexpr std::array<uint8_t, 256> kKeyChars = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = kLowerKey;
  for (int c = '0'; c <= '9'; ++c) table[c] = kLowerKey;
  for (char c : {'_', '.', '-'}) table[static_cast<uint8_t>(c)] = kLowerKey;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = kUpperKey;
  return table;
}();

bool IsKey(std::string_view key, bool upper_ok) {
  if (key.empty()) return false;
  const uint8_t allowed = upper_ok ? (kLowerKey | kUpperKey) : kLowerKey;
  for (char c : key) {
    if ((kKeyChars[static_cast<uint8_t>(c)] & allowed) == 0) return false;
  }
  return true;
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

fnhost_host_bytes Lend(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

// The deadline on CLOCK_MONOTONIC: now there, plus what is left of it on the host's clock.
int64_t MonotonicDeadline(absl::Time deadline, Clock* clock) {
  if (deadline == absl::InfiniteFuture()) return FNHOST_NO_DEADLINE;
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const int64_t now_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  const absl::Duration left = deadline - clock->Now();
  if (left >= absl::Hours(24 * 365)) return FNHOST_NO_DEADLINE;
  return now_ns + absl::ToInt64Nanoseconds(std::max(left, -absl::Hours(24)));
}

}  // namespace

absl::Status BeginCallContext(std::string_view function, CallContext& context) {
  context.response_metadata.clear();
  for (const Metadata& entry : context.metadata) {
    if (!IsKey(entry.key(), /*upper_ok=*/false)) [[unlikely]] {
      return absl::InvalidArgumentError(
          FunctionMessage(function, "request metadata key '", entry.key(),
                          "' must be 1 or more lower-case letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

std::span<const Metadata> CallRecord::metadata() const {
  return {reinterpret_cast<const Metadata*>(raw_.request_metadata),
          raw_.request_metadata_count};
}

absl::Status CallRecord::Begin(const Setup& setup) {
  services_ = setup.services;
  context_ = setup.context;
  NewCallId(call_id_);
  std::span<const Metadata> metadata;
  char* traceparent = traceparent_;
  if (context_ != nullptr) {
    metadata = context_->metadata;
    std::memcpy(CallContextWriter::call_id(*context_), call_id_, kCallIdSize);
    traceparent = CallContextWriter::traceparent(*context_);
  }
  raw_ = fnhost_host_call_context{
      .struct_size = sizeof(fnhost_host_call_context),
      .reserved = 0,
      .host_data = this,
      .call_id = {call_id_, kCallIdSize},
      .deadline_ns = MonotonicDeadline(setup.deadline, setup.clock),
      .cancelled = &cancelled_,
      .request_metadata = reinterpret_cast<const fnhost_host_metadata*>(metadata.data()),
      .request_metadata_count = metadata.size(),
      .traceparent = {nullptr, 0},
      .tracestate = {nullptr, 0},
      .logger = {this, &CallRecord::LogThunk},
      .set_response_metadata = &CallRecord::SetResponseMetadataThunk,
      .call_host = &CallRecord::CallHostThunk,
  };
  BeginTrace(setup, traceparent);
  if (context_ != nullptr) {
    CallContextWriter::SetSizes(*context_, kCallIdSize, raw_.traceparent.size);
  }
  return absl::OkStatus();
}

void CallRecord::BeginTrace(const Setup& setup, char* out) {
  const bool child = context_ != nullptr && ChildOf(context_->traceparent, &trace_);
  if (!child && !setup.trace) return;
  if (!child) NewTrace(&trace_);
  trace_.FormatTraceparent(out);
  raw_.traceparent = {out, kTraceparentSize};
  if (child) raw_.tracestate = Lend(context_->tracestate);
}

int32_t SetResponseMetadataPair(std::vector<std::pair<std::string, std::string>>* metadata,
                                std::string_view key, std::string_view value) {
  if (!IsKey(key, /*upper_ok=*/true)) return FNHOST_STATUS_INVALID_ARGUMENT;
  std::string lower = Lower(key);
  for (auto& [existing, old_value] : *metadata) {
    if (existing == lower) {
      old_value.assign(value.data(), value.size());
      return FNHOST_STATUS_OK;
    }
  }
  if (metadata->size() >= kMaxResponseMetadata) return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  metadata->emplace_back(std::move(lower), std::string(value));
  return FNHOST_STATUS_OK;
}

int32_t CallRecord::SetResponseMetadata(std::string_view key, std::string_view value) {
  if (context_ != nullptr) {
    return SetResponseMetadataPair(&context_->response_metadata, key, value);
  }
  // Nobody reads it; only the limit is kept, so that a module sees the same refusals.
  if (!IsKey(key, /*upper_ok=*/true)) return FNHOST_STATUS_INVALID_ARGUMENT;
  if (dropped_metadata_ >= kMaxResponseMetadata) return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  ++dropped_metadata_;
  return FNHOST_STATUS_OK;
}

int32_t CallRecord::CallHost(uint64_t service_id, std::string_view method,
                             std::string_view request, fnhost_host_bytes* response) {
  const int32_t code =
      services_->CallBytes(service_id, call_id(), method, request, &host_response_);
  if (response != nullptr) *response = Lend(host_response_);
  return code;
}

int32_t CallRecord::SetResponseMetadataThunk(void* self, fnhost_module_bytes key,
                                             fnhost_module_bytes value) {
  return static_cast<CallRecord*>(self)->SetResponseMetadata(View({key.data, key.size}),
                                                             View({value.data, value.size}));
}

int32_t CallRecord::CallHostThunk(void* self, uint64_t service_id, fnhost_module_bytes method,
                                  fnhost_module_bytes request, fnhost_host_bytes* response) {
  return static_cast<CallRecord*>(self)->CallHost(service_id, View({method.data, method.size}),
                                                  View({request.data, request.size}), response);
}

void CallRecord::LogThunk(void* self, int32_t level, const char* message, size_t size) {
  static_cast<CallRecord*>(self)->Log(level, View({message, size}));
}

void CallRecord::Cancel() {
  std::lock_guard<std::mutex> lock(remote_mu_);
  __atomic_store_n(&cancelled_, 1, __ATOMIC_RELEASE);
  if (remote_flag_ != nullptr) __atomic_store_n(remote_flag_, 1, __ATOMIC_RELEASE);
}

void CallRecord::AttachRemoteFlag(int32_t* flag) {
  std::lock_guard<std::mutex> lock(remote_mu_);
  remote_flag_ = flag;
  __atomic_store_n(flag, __atomic_load_n(&cancelled_, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
}

void CallRecord::DetachRemoteFlag() {
  std::lock_guard<std::mutex> lock(remote_mu_);
  remote_flag_ = nullptr;
}

}  // namespace fnhost::internal
