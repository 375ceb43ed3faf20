#include "src/cli/http_call_context.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "src/common/strings.h"

namespace fnhost::cli {
namespace {

bool IsHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
}

}  // namespace

HttpCallContext::HttpCallContext(std::string_view prefix, const Headers& headers)
    : prefix_(absl::AsciiStrToLower(AsAbsl(prefix))) {
  // Metadata views its key: no reallocation may move a (short, inline) key after that.
  keys_.reserve(headers.size());
  metadata_.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(AsAbsl(name), "traceparent")) {
      context_.traceparent = value;
    } else if (absl::EqualsIgnoreCase(AsAbsl(name), "tracestate")) {
      context_.tracestate = value;
    } else if (name.size() > prefix_.size() &&
               absl::StartsWithIgnoreCase(AsAbsl(name), prefix_)) {
      keys_.push_back(absl::AsciiStrToLower(AsAbsl(name.substr(prefix_.size()))));
      metadata_.emplace_back(keys_.back(), value);
    }
  }
  context_.metadata = metadata_;
  context_.trigger = "http";
}

void HttpCallContext::AppendResponseHeaders(
    std::vector<std::pair<std::string, std::string>>* out) const {
  for (const auto& [key, value] : context_.response_metadata) {
    if (IsHeaderValue(value)) out->emplace_back(prefix_ + key, value);
  }
  if (!context_.span_traceparent().empty()) {
    out->emplace_back("traceparent", std::string(context_.span_traceparent()));
  }
}

}  // namespace fnhost::cli
