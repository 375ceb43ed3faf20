// HttpCallContext: the call context of one HTTP request to `fnhost serve`. Request headers
// whose names start with the metadata prefix (default "x-fn-", case-insensitive) become the
// call's request metadata, the prefix taken off and the rest lower-cased; `traceparent` and
// `tracestate` become the caller's W3C trace context; the trigger is "http". After the call,
// each response metadata pair the module set comes back as a header (prefix + key), and the
// call's own span, when it has one, as `traceparent`. A value that could not be a header's
// (CR, LF, NUL or other control characters) is left out rather than let it split the response.
//
// Thread-safety: one per request; not shared.

#ifndef FNHOST_SRC_CLI_HTTP_CALL_CONTEXT_H_
#define FNHOST_SRC_CLI_HTTP_CALL_CONTEXT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fnhost/call_context.h"

namespace fnhost::cli {

class HttpCallContext {
 public:
  using Headers = std::vector<std::pair<std::string_view, std::string_view>>;

  // `headers` (and what they view) must outlive the call.
  HttpCallContext(std::string_view prefix, const Headers& headers);
  HttpCallContext(const HttpCallContext&) = delete;
  HttpCallContext& operator=(const HttpCallContext&) = delete;

  CallContext* context() { return &context_; }
  // The response headers of the finished call, appended to `out`.
  void AppendResponseHeaders(std::vector<std::pair<std::string, std::string>>* out) const;

 private:
  const std::string prefix_;
  std::vector<std::string> keys_;  // lower-cased; metadata_ views them
  std::vector<Metadata> metadata_;
  CallContext context_;
};

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_HTTP_CALL_CONTEXT_H_
