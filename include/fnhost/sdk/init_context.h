// What a state is built from: the function's name and init config, the host's logger, and the
// host services the function was granted.
//
// Part of the module SDK (fnhost/module.h). An InitContext is valid only during the step it was
// passed to (State::Create, State::Restore, State::AfterRestore); what RequireService returns
// stays valid until the state is destroyed. One thread at a time.

#ifndef FNHOST_SDK_INIT_CONTEXT_H_
#define FNHOST_SDK_INIT_CONTEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/abi.h"
#include "fnhost/sdk/logging.h"
#include "fnhost/sdk/service.h"
#include "fnhost/sdk/status.h"

namespace fnhost::sdk {

class InitContext {
 public:
  explicit InitContext(const fnhost_host_init_context* raw) : raw_(raw) {}

  std::string_view function_name() const { return raw_->function_name; }
  std::string_view init_config() const {
    return {reinterpret_cast<const char*>(raw_->init_config), raw_->init_config_size};
  }
  void Log(LogLevel level, std::string_view message) const {
    internal::Log(raw_->logger, level, message);
  }

  // In State::Restore: whether the sections are the live state of the version that a reload
  // replaces (both declare the same State::kStateSchema), rather than a snapshot file.
  bool reloading() const {
    return HasAbi2Fields() && (raw_->flags & FNHOST_INIT_FLAG_RELOAD) != 0;
  }

  // Asks for host service `name` at `min_version` or later, with every form in `forms` (the
  // bytes form by default: it works in both isolation modes). Errors name the service:
  // NOT_FOUND (the host has none), PERMISSION_DENIED (not granted to this function),
  // FAILED_PRECONDITION (older than min_version, or a required form is missing, such as the
  // typed form under process isolation), UNIMPLEMENTED (a host without services).
  StatusOr<Service> RequireService(std::string_view name, uint32_t min_version,
                                   ServiceForms forms = ServiceForms::kBytes) const {
    auto error = [&](StatusCode code, std::string_view cause) {
      return Status(code, "service '" + std::string(name) + "' " + std::string(cause));
    };
    if (!HasAbi2Fields() || raw_->require_service == nullptr) {
      return error(StatusCode::kUnimplemented, "is not available: this host offers no services");
    }
    fnhost_host_service raw{};
    raw.struct_size = sizeof(raw);
    fnhost_host_bytes message{};
    int32_t code = raw_->require_service(raw_->host_data, internal::Lend(name), min_version,
                                         static_cast<uint32_t>(forms), &raw, &message);
    if (code != FNHOST_STATUS_OK) {
      std::string_view text = internal::View(message);
      if (text.empty()) return error(internal::ToCode(code), "is not available");
      return Status(internal::ToCode(code), std::string(text));
    }
    // What the host promised, checked: a module must never call through a missing table.
    if (raw.version < min_version) {
      return error(StatusCode::kFailedPrecondition,
                   "has version " + std::to_string(raw.version) + ", below the required " +
                       std::to_string(min_version));
    }
    const uint32_t wanted = static_cast<uint32_t>(forms);
    if (((wanted & FNHOST_SERVICE_TYPED) != 0 && raw.typed == nullptr) ||
        ((wanted & FNHOST_SERVICE_BYTES) != 0 && raw.id == 0)) {
      return error(StatusCode::kFailedPrecondition, "lacks a required form");
    }
    return Service(std::string(name), raw);
  }

  // The typed form of service `name`: its function table as `Table`, the struct that the
  // service's own header defines. Errors as above.
  template <typename Table>
  StatusOr<TypedService<Table>> RequireService(std::string_view name,
                                               uint32_t min_version) const {
    StatusOr<Service> service = RequireService(name, min_version, ServiceForms::kTyped);
    if (!service.ok()) return service.status();
    return service->typed<Table>();
  }

  // The bytes form of `service` during init (e.g. to define metrics). The view is the host's,
  // valid until the next CallHost of this step or the step's end.
  StatusOr<std::string_view> CallHost(const Service& service, std::string_view method,
                                      std::string_view request) const {
    if (!HasAbi2Fields()) {
      return internal::CallHost(nullptr, nullptr, service.id(), service.name(), method, request);
    }
    return internal::CallHost(raw_->call_host, raw_->host_data, service.id(), service.name(),
                              method, request);
  }

  const fnhost_host_init_context& raw() const { return *raw_; }

 private:
  // A host of ABI 2 or later sets struct_size; a context without it has none of these fields.
  bool HasAbi2Fields() const {
    return raw_->struct_size >= offsetof(fnhost_host_init_context, call_host) + sizeof(void*);
  }

  const fnhost_host_init_context* raw_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_INIT_CONTEXT_H_
