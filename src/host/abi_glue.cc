#include "src/host/abi_glue.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::internal {

CallOutput::CallOutput(std::string* response)
    : response_(response),
      raw_{this, response != nullptr ? &CallOutput::Allocate : nullptr,
           &CallOutput::SetErrorMessage} {}

uint8_t* CallOutput::Allocate(void* self, size_t size) {
  std::string* response = static_cast<CallOutput*>(self)->response_;
  // resize() keeps the capacity, so a reused response string does not allocate.
  response->resize(size);
  return reinterpret_cast<uint8_t*>(response->data());
}

void CallOutput::SetErrorMessage(void* self, const char* message, size_t size) {
  static_cast<CallOutput*>(self)->error_message_.assign(message, size);
}

absl::Status CallOutput::ToStatus(int32_t code, std::string_view function,
                                  std::string_view what) const {
  if (code == FNHOST_STATUS_OK) return absl::OkStatus();
  std::string_view message =
      error_message_.empty() ? std::string_view("(no message)") : error_message_;
  if (code < FNHOST_STATUS_CANCELLED || code > FNHOST_STATUS_UNAUTHENTICATED) {
    return absl::UnknownError(absl::StrCat("function '", AsAbsl(function), "': ", AsAbsl(what),
                                           " returned unknown status code ", code, ": ",
                                           AsAbsl(message)));
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::StrCat("function '", AsAbsl(function), "': ", AsAbsl(what), ": ",
                                   AsAbsl(message)));
}

namespace {

void LogToStderr(void* host_data, int32_t level, const char* message, size_t size) {
  static constexpr const char* kLevels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  const char* level_name = (level >= 0 && level <= 3) ? kLevels[level] : "?";
  const auto* function = static_cast<const std::string*>(host_data);
  std::fprintf(stderr, "[fnhost:%s] %s %.*s\n", function->c_str(), level_name,
               static_cast<int>(size), message);
}

}  // namespace

fnhost_host_logger StderrLogger(const std::string* function_name) {
  return fnhost_host_logger{const_cast<std::string*>(function_name), &LogToStderr};
}

fnhost_host_init_context InitContext(const std::string* function, std::string_view init_config,
                                     CallOutput* error) {
  return fnhost_host_init_context{
      .function_name = function->c_str(),
      .init_config = reinterpret_cast<const uint8_t*>(init_config.data()),
      .init_config_size = init_config.size(),
      .logger = StderrLogger(function),
      .error = error->raw(),
  };
}

absl::Status StateInitError(const CallOutput& error, int32_t code, std::string_view function,
                            std::string_view module_path) {
  absl::Status status = error.ToStatus(code, function, "state init");
  return absl::Status(status.code(), absl::StrCat(status.message(), " (module ",
                                                   AsAbsl(module_path), ")"));
}

}  // namespace fnhost::internal
