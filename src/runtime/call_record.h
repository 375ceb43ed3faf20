// CallRecord: what the host keeps for one call while it runs, and the call context
// (fnhost_host_call_context, include/fnhost/abi.h) it hands the module: request metadata (the
// caller's array, not copied), the deadline on CLOCK_MONOTONIC, the cancelled flag, the call id,
// the W3C trace context of the call's own span, a logger that tags lines with the call, the
// response metadata the module sets (into the caller's CallContext), and call_host (the
// function's host services, with a response buffer valid until the next call_host).
//
// It lives in the calling thread's frame for exactly the duration of the call. In process the
// module gets raw(); under process isolation the worker builds its own context from what the
// request frame carries, and the host side answers its frames through this record.
//
// Thread-safety: the module's callbacks run one at a time (abi.h). Cancel may be called from
// any thread while the call runs, and is serialised with attaching and detaching a worker's
// flag, so that a late cancel never reaches the worker's next call.

#ifndef FNHOST_SRC_RUNTIME_CALL_RECORD_H_
#define FNHOST_SRC_RUNTIME_CALL_RECORD_H_

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/abi.h"
#include "fnhost/call_context.h"
#include "fnhost/clock.h"
#include "src/runtime/call_ids.h"
#include "src/runtime/function_services.h"

namespace fnhost {

// The host's writer of a CallContext's outputs (its private fields).
class CallContextWriter {
 public:
  static char* call_id(CallContext& context) { return context.call_id_; }
  static char* traceparent(CallContext& context) { return context.traceparent_; }
  static void SetSizes(CallContext& context, size_t call_id, size_t traceparent) {
    context.call_id_size_ = call_id;
    context.traceparent_size_ = traceparent;
  }
};

namespace internal {

// Checks a caller's context at the start of a call, before anything else: INVALID_ARGUMENT,
// naming `function` and the key, for a request metadata key that is not lower-case
// [a-z0-9_.-]; clears the response metadata of an earlier call.
absl::Status BeginCallContext(std::string_view function, CallContext& context);

// Sets response metadata `key` to `value` in `metadata`, as abi.h's set_response_metadata
// says: INVALID_ARGUMENT for an empty key or one with characters other than [A-Za-z0-9_.-];
// the key lower-cased; an earlier value replaced; RESOURCE_EXHAUSTED past
// kMaxResponseMetadata pairs.
int32_t SetResponseMetadataPair(std::vector<std::pair<std::string, std::string>>* metadata,
                                std::string_view key, std::string_view value);

class CallRecord {
 public:
  struct Setup {
    const FunctionServices* services = nullptr;  // the version's; required
    CallContext* context = nullptr;              // the caller's; null: none
    Clock* clock = nullptr;                      // for the deadline
    absl::Time deadline = absl::InfiniteFuture();  // the call's (CallOptions::deadline)
    bool trace = false;  // start a trace of its own when the caller gave none (spans recorded)
  };

  CallRecord() = default;
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  // Fills the context for a call whose caller's context passed BeginCallContext.
  absl::Status Begin(const Setup& setup);

  const fnhost_host_call_context* raw() const { return &raw_; }
  const FunctionServices& services() const { return *services_; }
  std::string_view call_id() const { return {call_id_, kCallIdSize}; }
  // The span's ids, when the call has a trace context (has_trace()).
  bool has_trace() const { return raw_.traceparent.size != 0; }
  const TraceIds& trace() const { return trace_; }
  std::span<const Metadata> metadata() const;
  std::string_view traceparent() const { return View(raw_.traceparent); }
  std::string_view tracestate() const { return View(raw_.tracestate); }
  int64_t deadline_ns() const { return raw_.deadline_ns; }

  // As the context's callbacks: the module's response metadata (a refusal's status code),
  // a host service's bytes form (its response lent until the next call), a log line.
  int32_t SetResponseMetadata(std::string_view key, std::string_view value);
  int32_t CallHost(uint64_t service_id, std::string_view method, std::string_view request,
                   fnhost_host_bytes* response);
  void Log(int32_t level, std::string_view message) const {
    services_->LogLine(level, call_id(), message);
  }

  // The caller gave up: sets the cancelled flag the module polls (and the worker's, if one is
  // attached). Idempotent.
  void Cancel();
  // Process isolation: while a worker runs the call, Cancel also sets `flag` (on the page the
  // worker maps); set at once if the call was cancelled already. Detach before the worker
  // serves another call.
  void AttachRemoteFlag(int32_t* flag);
  void DetachRemoteFlag();

 private:
  static std::string_view View(fnhost_host_bytes bytes) {
    return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
  }
  static int32_t SetResponseMetadataThunk(void* self, fnhost_module_bytes key,
                                          fnhost_module_bytes value);
  static int32_t CallHostThunk(void* self, uint64_t service_id, fnhost_module_bytes method,
                               fnhost_module_bytes request, fnhost_host_bytes* response);
  static void LogThunk(void* self, int32_t level, const char* message, size_t size);
  // The trace context of the call's span, into the caller's context or traceparent_.
  void BeginTrace(const Setup& setup, char* out);

  const FunctionServices* services_ = nullptr;
  CallContext* context_ = nullptr;
  int32_t cancelled_ = 0;          // read by the module with relaxed atomic loads
  size_t dropped_metadata_ = 0;    // response metadata set without a caller's context
  std::string host_response_;      // what the latest call_host lent
  std::mutex remote_mu_;           // Cancel against attach and detach
  int32_t* remote_flag_ = nullptr;
  char call_id_[kCallIdSize];
  char traceparent_[kTraceparentSize];  // when the caller has no context
  TraceIds trace_;
  fnhost_host_call_context raw_;
};

}  // namespace internal
}  // namespace fnhost

#endif  // FNHOST_SRC_RUNTIME_CALL_RECORD_H_
