// How every error message that concerns a function begins: "function 'NAME': ", so that a user
// reading a log can tell which function failed (and grep for it), whichever layer wrote it.
//
//   FunctionMessage("f", "module ", path, ": ", cause)  -> "function 'f': module /m.so: cause"
//   FunctionSentence("f", " is not registered")           -> "function 'f' is not registered"
//   PrefixFunction("f", status)                           -> the same status, message prefixed
//
// The parts are anything absl::StrCat takes, and std::string_view.
//
// Thread-safety: the functions keep no state.

#ifndef FNHOST_SRC_COMMON_FUNCTION_ERROR_H_
#define FNHOST_SRC_COMMON_FUNCTION_ERROR_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost {
namespace function_error_internal {

// absl::StrCat takes absl::string_view, which Debian's Abseil does not convert from
// std::string_view (see strings.h).
template <typename T>
const T& Part(const T& part) {
  return part;
}
inline absl::string_view Part(std::string_view part) { return AsAbsl(part); }

}  // namespace function_error_internal

// "function 'NAME': " followed by `parts`.
template <typename... Parts>
std::string FunctionMessage(std::string_view function, const Parts&... parts) {
  return absl::StrCat("function '", AsAbsl(function), "': ",
                      function_error_internal::Part(parts)...);
}

// "function 'NAME'" followed by `parts`, for a sentence about the function itself.
template <typename... Parts>
std::string FunctionSentence(std::string_view function, const Parts&... parts) {
  return absl::StrCat("function '", AsAbsl(function), "'",
                      function_error_internal::Part(parts)...);
}

// `status` with FunctionMessage's prefix on its message.
inline absl::Status PrefixFunction(std::string_view function, const absl::Status& status) {
  return absl::Status(status.code(), FunctionMessage(function, AsStd(status.message())));
}

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_FUNCTION_ERROR_H_
