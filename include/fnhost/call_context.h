// CallContext: what one call carries besides its request bytes, in both directions. The caller
// sets request metadata and the W3C trace context the call belongs to; the host writes back
// the response metadata the module set, the call's id and the call's own span. The module sees
// all of it through fnhost::sdk::CallContext (fnhost/sdk/call_context.h), in both isolation
// modes, with the call's deadline (CallOptions::deadline) and cancelled flag. A call without a
// CallContext (CallOptions::context null) still gets an id, a logger, its deadline and its host
// services; it has no metadata.
//
//   fnhost::Metadata metadata[] = {{"user", "42"}, {"region", "eu"}};
//   fnhost::CallContext context;
//   context.metadata = metadata;
//   context.traceparent = incoming_traceparent;            // optional
//   fnhost::CallOptions options;
//   options.context = &context;
//   absl::Status status = host->Invoke(handle, request, &response, options);
//   for (const auto& [key, value] : context.response_metadata) { ... }
//
// Thread-safety: a CallContext serves one call at a time. The caller must not touch it while
// the call runs; it and what it points to (metadata, trace context) must stay valid until the
// call returns (Host::InvokeAsync: until its completion runs), and are not copied on the
// in-process warm path.

#ifndef FNHOST_CALL_CONTEXT_H_
#define FNHOST_CALL_CONTEXT_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/abi.h"

namespace fnhost {

// One pair of request metadata, viewing the caller's bytes. Laid out as the ABI's
// fnhost_host_metadata, so an array of these reaches an in-process module as it is.
class Metadata {
 public:
  constexpr Metadata(std::string_view key, std::string_view value)
      : key_{key.data(), key.size()}, value_{value.data(), value.size()} {}

  std::string_view key() const { return {key_.data, key_.size}; }
  std::string_view value() const { return {value_.data, value_.size}; }

 private:
  fnhost_host_bytes key_;
  fnhost_host_bytes value_;
};
static_assert(sizeof(Metadata) == sizeof(fnhost_host_metadata));

// The most response metadata one call may set; past it the module's set fails with
// RESOURCE_EXHAUSTED.
inline constexpr size_t kMaxResponseMetadata = 64;

class CallContext {
 public:
  // ---- Set by the caller ----

  // Request metadata, in order. Keys are lower-case ASCII letters, digits, '_', '.' and '-'
  // (HTTP header names arrive case-insensitive: lower-case them where they enter, as
  // `fnhost serve` and `fnhost run --metadata` do); a call with any other key fails with
  // INVALID_ARGUMENT naming it. Not copied. Default: none.
  std::span<const Metadata> metadata;
  // The W3C trace context of the caller ("00-<trace id>-<parent span id>-<flags>" and the
  // vendors' tracestate). The call becomes a child span of it: the module sees a traceparent
  // naming the call's own span, and the tracestate as given. A malformed traceparent is
  // ignored, as W3C says (the call then starts a trace of its own when spans are recorded).
  // Default: empty.
  std::string_view traceparent;
  std::string_view tracestate;
  // OpenTelemetry's faas.trigger of the call's span: "http", "pubsub", "datasource", "timer"
  // or "other". Not copied. Default: "other".
  std::string_view trigger = "other";

  // ---- Written by the call ----

  // The response metadata the module set, keys lower-cased, in the order they were first set
  // (a key set twice keeps its last value). Cleared when the call starts (its capacity is
  // kept); empty when the call failed before the module ran.
  std::vector<std::pair<std::string, std::string>> response_metadata;

  // The call's id, unique in the process (OpenTelemetry's faas.invocation_id); the module's
  // log lines carry it.
  std::string_view call_id() const { return {call_id_, call_id_size_}; }
  // The traceparent of the call's own span, as the module saw it: empty when the caller gave
  // none and no metrics sink records spans.
  std::string_view span_traceparent() const { return {traceparent_, traceparent_size_}; }

 private:
  friend class CallContextWriter;  // the host's side (src/runtime/call_record.h)

  char call_id_[16] = {};
  size_t call_id_size_ = 0;
  char traceparent_[55] = {};
  size_t traceparent_size_ = 0;
};

}  // namespace fnhost

#endif  // FNHOST_CALL_CONTEXT_H_
