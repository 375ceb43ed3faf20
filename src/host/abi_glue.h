// The host's side of the C ABI: the callbacks a module calls (response allocation, error
// messages, logging), implemented over C++ strings. Thread-safe: each call has its own output.

#ifndef FNHOST_SRC_HOST_ABI_GLUE_H_
#define FNHOST_SRC_HOST_ABI_GLUE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fnhost/abi.h"

namespace fnhost::internal {

// Collects what a module writes during one call. `response` may be null for steps that have
// no response (state and instance creation).
class CallOutput {
 public:
  explicit CallOutput(std::string* response);
  fnhost_host_output* raw() { return &raw_; }
  const std::string& error_message() const { return error_message_; }

  // Turns a module's status code into an absl::Status for `function`'s step `what`.
  absl::Status ToStatus(int32_t code, std::string_view function, std::string_view what) const;

 private:
  static uint8_t* Allocate(void* self, size_t size);
  static void SetErrorMessage(void* self, const char* message, size_t size);

  std::string* response_;
  std::string error_message_;
  fnhost_host_output raw_;
};

// A logger that writes "[fnhost:<function>] <message>" lines to stderr.
fnhost_host_logger StderrLogger(const std::string* function_name);

// The context of a state init or restore of `function`: `init_config`, a StderrLogger, and
// `error` to collect the module's message. Valid while its arguments live.
fnhost_host_init_context InitContext(const std::string* function, std::string_view init_config,
                                     CallOutput* error);

// The error of a failed state_create, naming the module file as well.
absl::Status StateInitError(const CallOutput& error, int32_t code, std::string_view function,
                            std::string_view module_path);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_ABI_GLUE_H_
