// InitStep: the init context (fnhost_host_init_context, include/fnhost/abi.h) of one step that
// builds a module's state (state_create, state_restore, state_after_restore), and InitHost,
// what such a step reaches on the host: the function's host services and a logger. StateBuilder
// makes every init context through it, in both isolation modes; what differs is the InitHost:
// the host's own services in process (FunctionServices), their description and a channel to
// the host in a zygote or worker process.
//
// The bytes a step lends the module (refusal messages, call_host responses) live in the
// InitStep, so they stay valid until the step returns, as abi.h promises; a call_host response
// until the next call_host.
//
// Thread-safety: a step's callbacks run on the step's thread, one at a time. An InitHost serves
// one step at a time.

#ifndef FNHOST_SRC_RUNTIME_INIT_STEP_H_
#define FNHOST_SRC_RUNTIME_INIT_STEP_H_

#include <cstdint>
#include <list>
#include <string>
#include <string_view>

#include "fnhost/abi.h"
#include "src/runtime/abi_glue.h"

namespace fnhost::internal {

class InitHost {
 public:
  virtual ~InitHost() = default;
  // Answers require_service (see AnswerServiceRequest in service_request.h).
  virtual int32_t RequireService(std::string_view name, uint32_t min_version, uint32_t forms,
                                 fnhost_host_service* service, std::string* message) = 0;
  // Runs the bytes form of the service with id `service_id`: its status code, and in
  // `*response` its response or error message.
  virtual int32_t CallHost(uint64_t service_id, std::string_view method,
                           std::string_view request, std::string* response) = 0;
  // Writes a line the module logged during init.
  virtual void Log(int32_t level, std::string_view message) = 0;
};

class InitStep {
 public:
  // `host` may be null: a tool that builds states without a host (no services; the log goes
  // to stderr). `function`, `init_config`, `host` and `error` must outlive the step.
  InitStep(const std::string& function, const std::string& init_config, uint32_t flags,
           InitHost* host, CallOutput& error);
  InitStep(const InitStep&) = delete;
  InitStep& operator=(const InitStep&) = delete;

  const fnhost_host_init_context* raw() const { return &raw_; }

 private:
  static int32_t RequireService(void* self, fnhost_module_bytes name, uint32_t min_version,
                                uint32_t forms, fnhost_host_service* service,
                                fnhost_host_bytes* message);
  static int32_t CallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                          fnhost_module_bytes request, fnhost_host_bytes* response);
  static void Log(void* self, int32_t level, const char* message, size_t size);

  const std::string& function_;
  InitHost* const host_;
  // Stable addresses until the step ends. A list, not a deque: an empty deque allocates
  // already, and a worker makes a step for each AfterRestore, where every allocation on the
  // zygote's heap pages costs it copy-on-write faults.
  std::list<std::string> messages_;
  std::string response_;              // what the latest call_host lent
  fnhost_host_init_context raw_;
};

// "[fnhost:<function>] <LEVEL> <message>" on stderr: how lines are written when no one else
// takes them.
void LogLineToStderr(std::string_view tag, int32_t level, std::string_view message);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_INIT_STEP_H_
