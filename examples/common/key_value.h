// Parsing of the "key=value key=value" text the example modules take as init config and as
// requests. Header-only, pure functions; thread-safe.

#ifndef FNHOST_EXAMPLES_COMMON_KEY_VALUE_H_
#define FNHOST_EXAMPLES_COMMON_KEY_VALUE_H_

#include <algorithm>
#include <charconv>
#include <functional>
#include <string>
#include <string_view>

#include "fnhost/module.h"

namespace examples {

// Calls `fn(key, value)` for each whitespace-separated "key=value" token of `text`, and stops
// at the first error. `what` starts error messages, e.g. "recommender: request".
inline fnhost::sdk::Status ForEachKeyValue(
    std::string_view text, std::string_view what,
    const std::function<fnhost::sdk::Status(std::string_view, std::string_view)>& fn) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t pos = text.find_first_not_of(kSpace);
  while (pos != std::string_view::npos) {
    size_t end = std::min(text.find_first_of(kSpace, pos), text.size());
    std::string_view token = text.substr(pos, end - pos);
    size_t equals = token.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return fnhost::sdk::InvalidArgumentError(std::string(what) + ": '" + std::string(token) +
                                               "' is not key=value");
    }
    fnhost::sdk::Status status = fn(token.substr(0, equals), token.substr(equals + 1));
    if (!status.ok()) return status;
    pos = text.find_first_not_of(kSpace, end);
  }
  return fnhost::sdk::Status::Ok();
}

// Parses all of `value` as a decimal number into *out; INVALID_ARGUMENT naming `key` if it is
// not one or does not fit.
template <typename T>
fnhost::sdk::Status ParseNumber(std::string_view what, std::string_view key,
                                std::string_view value, T* out) {
  const char* end = value.data() + value.size();
  auto [ptr, error] = std::from_chars(value.data(), end, *out);
  if (value.empty() || error != std::errc() || ptr != end) {
    return fnhost::sdk::InvalidArgumentError(std::string(what) + ": bad value '" +
                                             std::string(value) + "' for " + std::string(key));
  }
  return fnhost::sdk::Status::Ok();
}

}  // namespace examples

#endif  // FNHOST_EXAMPLES_COMMON_KEY_VALUE_H_
