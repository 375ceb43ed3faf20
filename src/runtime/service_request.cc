#include "src/runtime/service_request.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"

namespace fnhost::internal {

int32_t AnswerServiceRequest(std::string_view function, std::string_view name,
                             const ServiceDescription& description, uint32_t min_version,
                             uint32_t forms, fnhost_host_service* service, std::string* message) {
  auto refuse = [&](int32_t code, std::string_view cause) {
    *message = FunctionMessage(function, "service '", name, "' ", cause);
    return code;
  };
  if (!description.found) return refuse(FNHOST_STATUS_NOT_FOUND, "is not offered by this host");
  if (!description.granted) {
    return refuse(FNHOST_STATUS_PERMISSION_DENIED,
                  "is not granted to this function (FunctionSpec::services)");
  }
  if (description.version < min_version) {
    return refuse(FNHOST_STATUS_FAILED_PRECONDITION,
                  absl::StrCat("is version ", description.version,
                               "; the module requires version ", min_version, " or later"));
  }
  if ((forms & FNHOST_SERVICE_TYPED) != 0 && description.typed == nullptr) {
    return refuse(FNHOST_STATUS_FAILED_PRECONDITION,
                  description.has_typed
                      ? "has a typed form only in the host's own process, not under process "
                        "isolation; use its bytes form"
                      : "has no typed form");
  }
  if ((forms & FNHOST_SERVICE_BYTES) != 0 && description.id == 0) {
    return refuse(FNHOST_STATUS_FAILED_PRECONDITION, "has no bytes form");
  }
  if (description.id == 0 && description.typed == nullptr) {
    return refuse(FNHOST_STATUS_FAILED_PRECONDITION,
                  "has only a typed form, which is not available under process isolation");
  }
  if (service->struct_size < offsetof(fnhost_host_service, id)) {
    return refuse(FNHOST_STATUS_INVALID_ARGUMENT,
                  absl::StrCat("was asked for with a fnhost_host_service.struct_size of ",
                               service->struct_size, ", too small"));
  }
  const fnhost_host_service filled{
      .struct_size = service->struct_size,
      .version = description.version,
      .id = description.id,
      .typed = description.typed,
      .typed_data = description.typed_data,
  };
  std::memcpy(service, &filled, std::min<size_t>(service->struct_size, sizeof(filled)));
  return FNHOST_STATUS_OK;
}

}  // namespace fnhost::internal
