// How a host answers a module's require_service (include/fnhost/abi.h), the same way wherever
// the module's init runs: in the host process, where the service registry is at hand, and in a
// zygote or worker process, which knows the services only from the description the host sent
// along with its config. Both describe the service asked for, and this decides.
//
// The checks run in the order of the contract, and every refusal names the service and the
// function: not offered by the host (NOT_FOUND), not granted to the function
// (PERMISSION_DENIED), older than asked (FAILED_PRECONDITION), a form asked for that is missing
// here, such as the typed form in a worker process (FAILED_PRECONDITION).
//
// Thread-safety: the function keeps no state.

#ifndef FNHOST_SRC_RUNTIME_SERVICE_REQUEST_H_
#define FNHOST_SRC_RUNTIME_SERVICE_REQUEST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/abi.h"

namespace fnhost::internal {

// What the host offers under a service name, as the function asking for it sees it.
struct ServiceDescription {
  bool found = false;    // the host has a service of this name
  bool granted = false;  // ... and the function may use it
  uint32_t version = 0;
  bool has_typed = false;  // the service has a typed form (usable only in the host process)
  uint64_t id = 0;         // its bytes form's id for this function; 0: no bytes form
  // The typed form, where the module runs in the host process; null elsewhere.
  const void* typed = nullptr;
  void* typed_data = nullptr;
};

// Decides a require_service of `name` at `min_version` with `forms` for `function`: on OK fills
// `*service` (no further than its struct_size); otherwise returns the status code and sets
// `*message`.
int32_t AnswerServiceRequest(std::string_view function, std::string_view name,
                             const ServiceDescription& description, uint32_t min_version,
                             uint32_t forms, fnhost_host_service* service, std::string* message);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_SERVICE_REQUEST_H_
