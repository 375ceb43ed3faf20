// The ids a call carries: its call id (OpenTelemetry's faas.invocation_id), and the W3C trace
// context of its span (https://www.w3.org/TR/trace-context/): the trace id it belongs to, its
// parent span (the caller's), its own new span id, and the trace flags.
//
// Ids are lower-case hex. Call ids come from a process-wide counter that each thread takes in
// blocks (no shared cache line per call); span and trace ids from a per-thread generator seeded
// from the system's entropy.
//
// Thread-safety: the functions are thread-safe; a TraceIds value belongs to one call.

#ifndef FNHOST_SRC_RUNTIME_CALL_IDS_H_
#define FNHOST_SRC_RUNTIME_CALL_IDS_H_

#include <cstddef>
#include <string_view>

namespace fnhost::internal {

inline constexpr size_t kCallIdSize = 16;
inline constexpr size_t kTraceparentSize = 55;  // "00-" 32 "-" 16 "-" 2

// Writes a new call id, unique in the process, into `out`.
void NewCallId(char* out);

struct TraceIds {
  char trace_id[32];
  char parent_span_id[16];
  char span_id[16];
  char flags[2];
  bool has_parent = false;

  std::string_view trace() const { return {trace_id, sizeof(trace_id)}; }
  std::string_view span() const { return {span_id, sizeof(span_id)}; }
  std::string_view parent() const {
    return has_parent ? std::string_view(parent_span_id, sizeof(parent_span_id))
                      : std::string_view();
  }
  // Writes "00-<trace>-<span>-<flags>" (kTraceparentSize bytes) into `out`.
  void FormatTraceparent(char* out) const;
};

// A child of the span that `traceparent` names, with a new span id; false when `traceparent`
// is not a valid version-00 traceparent (W3C: the receiver then starts a new trace).
bool ChildOf(std::string_view traceparent, TraceIds* ids);
// The root span of a new trace, sampled.
void NewTrace(TraceIds* ids);
// A new span id of the same trace (for child spans), into `out` (16 bytes).
void NewSpanId(char* out);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_CALL_IDS_H_
