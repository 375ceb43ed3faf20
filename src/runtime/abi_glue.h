// The host's side of the C ABI (include/fnhost/abi.h) for one call into a module: the output
// callbacks a module writes its response and error message through, implemented over C++
// strings, and the call steps that turn the module's status code into an absl::Status worded
// the same way in both isolation modes. State init and restore, which also need an init
// context, are StateBuilder's (state_builder.h).
//
// Thread-safety: each call has its own CallOutput; the functions keep no state.

#ifndef FNHOST_SRC_RUNTIME_ABI_GLUE_H_
#define FNHOST_SRC_RUNTIME_ABI_GLUE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/abi.h"

namespace fnhost::internal {

// Collects what a module writes during one call. `response` may be null for steps that have
// no response (state and instance creation, snapshots).
class CallOutput {
 public:
  explicit CallOutput(std::string* response);
  CallOutput(const CallOutput&) = delete;
  CallOutput& operator=(const CallOutput&) = delete;

  fnhost_host_output* raw() { return &raw_; }
  const std::string& error_message() const { return error_message_; }

  // Turns a module's status code into an absl::Status for `function`'s step `what`:
  // "function 'f': invoke: <the module's message>".
  absl::Status ToStatus(int32_t code, std::string_view function, std::string_view what) const;

 private:
  static uint8_t* Allocate(void* self, size_t size);
  static void SetErrorMessage(void* self, const char* message, size_t size);

  std::string* response_;
  std::string error_message_;
  fnhost_host_output raw_;
};

// Runs the module's invoke on `instance`, with `context` when the module takes one
// (invoke_with_context) and `context` is not null, else without; `output` receives the response
// and the module's message. The warm path of both isolation modes (in the host, and in a
// worker process). A module that takes a context must be given one if it has no plain invoke.
inline absl::Status InvokeModule(const fnhost_module& table, fnhost_module_instance* instance,
                                 std::string_view request, CallOutput& output,
                                 const std::string& function,
                                 const fnhost_host_call_context* context) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(request.data());
  const int32_t code =
      context != nullptr && table.invoke_with_context != nullptr
          ? table.invoke_with_context(instance, bytes, request.size(), output.raw(), context)
          : table.invoke(instance, bytes, request.size(), output.raw());
  if (code == FNHOST_STATUS_OK) [[likely]] {
    return absl::OkStatus();
  }
  return output.ToStatus(code, function, "invoke");
}

// Creates one instance of a built state.
absl::StatusOr<fnhost_module_instance*> CreateInstance(const fnhost_module_v1& table,
                                                       fnhost_module_state* state,
                                                       std::string_view function);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_ABI_GLUE_H_
