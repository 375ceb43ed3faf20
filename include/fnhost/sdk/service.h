// A host service the module was granted, as InitContext::RequireService hands it back: the
// bytes form (a service id for CallHost, in every isolation mode) and the typed form (the
// service's C function table, in the module's own process), whichever the host provides.
//
// Part of the module SDK (fnhost/module.h). Obtain services in State::Create (or Restore or
// AfterRestore), keep them in the State and use them in every call: they stay valid until the
// state is destroyed. Values, cheap to copy; a typed service's functions are thread-safe.
//
//   // The embedder's header defines the table: typedef struct world_v1 { ... } world_v1;
//   StatusOr<TypedService<world_v1>> world = context.RequireService<world_v1>("world", 1);
//   if (!world.ok()) return world.status();   // NOT_FOUND, PERMISSION_DENIED, ...
//   (*world)->move(world->data(), entity, dx, dy);

#ifndef FNHOST_SDK_SERVICE_H_
#define FNHOST_SDK_SERVICE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/abi.h"
#include "fnhost/sdk/status.h"

namespace fnhost::sdk {

// The forms a module requires of a service (FNHOST_SERVICE_* bits); kAny takes what there is.
enum class ServiceForms : uint32_t {
  kAny = 0,
  kTyped = FNHOST_SERVICE_TYPED,
  kBytes = FNHOST_SERVICE_BYTES,
  kBoth = FNHOST_SERVICE_TYPED | FNHOST_SERVICE_BYTES,
};

// The typed form of a service: its function table, a struct `Table` that the service's owner
// defines, and the pointer every function of it takes first. Call as
// `service->function(service.data(), ...)`: one indirect call, nothing else.
template <typename Table>
class TypedService {
 public:
  TypedService() = default;
  TypedService(const Table* table, void* data, uint32_t version)
      : table_(table), data_(data), version_(version) {}

  explicit operator bool() const { return table_ != nullptr; }
  const Table* operator->() const { return table_; }
  const Table& operator*() const { return *table_; }
  const Table* table() const { return table_; }
  void* data() const { return data_; }
  // The version the host provides (at least the one asked for): later versions append
  // functions to the table.
  uint32_t version() const { return version_; }

 private:
  const Table* table_ = nullptr;
  void* data_ = nullptr;
  uint32_t version_ = 0;
};

class Service {
 public:
  Service() = default;
  Service(std::string name, const fnhost_host_service& raw) : name_(std::move(name)), raw_(raw) {}

  const std::string& name() const { return name_; }
  uint32_t version() const { return raw_.version; }
  // The bytes form's id (CallContext::CallHost takes the Service itself); 0 without it.
  uint64_t id() const { return raw_.id; }
  bool has_bytes() const { return raw_.id != 0; }
  bool has_typed() const { return raw_.typed != nullptr; }
  // The typed form as `Table`; empty (false) when the host gave none.
  template <typename Table>
  TypedService<Table> typed() const {
    return TypedService<Table>(static_cast<const Table*>(raw_.typed), raw_.typed_data,
                               raw_.version);
  }

 private:
  std::string name_;
  fnhost_host_service raw_{};
};

namespace internal {

inline StatusCode ToCode(int32_t code) {
  if (code < FNHOST_STATUS_OK || code > FNHOST_STATUS_UNAUTHENTICATED) return StatusCode::kUnknown;
  return static_cast<StatusCode>(code);
}

inline std::string_view View(const fnhost_host_bytes& bytes) {
  return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

inline fnhost_module_bytes Lend(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

using CallHostFn = int32_t (*)(void* host_data, uint64_t service_id, fnhost_module_bytes method,
                               fnhost_module_bytes request, fnhost_host_bytes* response);

// The bytes form of a service, through a context's call_host. The view is the host's: valid
// until the next call through the same context, or the end of the step.
inline StatusOr<std::string_view> CallHost(CallHostFn call_host, void* host_data,
                                           uint64_t service_id, std::string_view service,
                                           std::string_view method, std::string_view request) {
  auto error = [&](StatusCode code, std::string_view cause) {
    return Status(code, "service '" + std::string(service) + "' method '" + std::string(method) +
                            "': " + std::string(cause));
  };
  if (call_host == nullptr) {
    return error(StatusCode::kUnavailable, "this host offers no host services here");
  }
  if (service_id == 0) {
    return error(StatusCode::kFailedPrecondition, "the service has no bytes form");
  }
  fnhost_host_bytes response{};
  int32_t code = call_host(host_data, service_id, Lend(method), Lend(request), &response);
  if (code == FNHOST_STATUS_OK) return View(response);
  std::string_view message = View(response);
  return error(ToCode(code), message.empty() ? "failed without a message" : message);
}

}  // namespace internal
}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_SERVICE_H_
