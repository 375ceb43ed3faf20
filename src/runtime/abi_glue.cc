#include "src/runtime/abi_glue.h"

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"

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
    return absl::UnknownError(FunctionMessage(
        function, what, " returned unknown status code ", code, ": ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      FunctionMessage(function, what, ": ", message));
}

absl::StatusOr<fnhost_module_instance*> CreateInstance(const fnhost_module_v1& table,
                                                       fnhost_module_state* state,
                                                       std::string_view function) {
  CallOutput error(nullptr);
  fnhost_module_instance* instance = nullptr;
  const int32_t code = table.instance_create(state, error.raw(), &instance);
  if (code != FNHOST_STATUS_OK) return error.ToStatus(code, function, "instance create");
  return instance;
}

}  // namespace fnhost::internal
