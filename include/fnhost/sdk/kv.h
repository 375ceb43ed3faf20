// A client of the built-in `kv` service (fnhost/builtin_services.h): an in-memory key/value
// store that the host shares between the functions granted it, with a cap on its size.
//
// Part of the module SDK; include it next to fnhost/module.h. Like the metrics client it uses
// the typed form when the host gives one (in process) and the bytes form otherwise (under
// process isolation):
//
//   StatusOr<Kv> kv = Kv::Require(context);                     // in State::Create
//   ...
//   Status found = state.kv.Get(call_context, "user:42", &value);  // in Invoke
//
// A Kv is a value kept in the State, usable from any number of calls at once; Get reuses the
// capacity of the string it fills.

#ifndef FNHOST_SDK_KV_H_
#define FNHOST_SDK_KV_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/builtin_services.h"
#include "fnhost/sdk/call_context.h"
#include "fnhost/sdk/init_context.h"
#include "fnhost/sdk/service.h"
#include "fnhost/sdk/status.h"
#include "fnhost/sdk/wire.h"

namespace fnhost::sdk {

class Kv {
 public:
  // Requires the `kv` service (version 1 or later, either form).
  static StatusOr<Kv> Require(const InitContext& context) {
    StatusOr<Service> service =
        context.RequireService(FNHOST_KV_SERVICE, FNHOST_KV_SERVICE_VERSION, ServiceForms::kAny);
    if (!service.ok()) return service.status();
    if (!service->has_typed() && !service->has_bytes()) {
      return FailedPreconditionError("service 'kv' came with neither form");
    }
    return Kv(*std::move(service));
  }

  // Sets *value to the value of `key`; NOT_FOUND when there is none.
  Status Get(CallContext& context, std::string_view key, std::string* value) const {
    if (auto typed = service_.typed<fnhost_host_kv_v1>()) {
      // A writer may change the value's size between two reads: a few tries, then give up.
      for (int attempt = 0; attempt < 4; ++attempt) {
        value->resize(value->capacity());
        size_t size = 0;
        int32_t code =
            typed->get(typed.data(), internal::Lend(key), value->data(), value->size(), &size);
        if (code == FNHOST_STATUS_OK) {
          value->resize(size);
          return Status::Ok();
        }
        if (code != FNHOST_STATUS_OUT_OF_RANGE) return Error(code, "get", key);
        value->resize(size);
      }
      return Status(StatusCode::kAborted, "kv: the value of '" + std::string(key) +
                                              "' kept changing size while it was read");
    }
    StatusOr<std::string_view> response = context.CallHost(service_, "get", key);
    if (!response.ok()) return response.status();
    value->assign(*response);
    return Status::Ok();
  }

  // Stores a copy of `value` under `key`; RESOURCE_EXHAUSTED past the store's cap.
  Status Set(CallContext& context, std::string_view key, std::string_view value) const {
    if (auto typed = service_.typed<fnhost_host_kv_v1>()) {
      int32_t code = typed->set(typed.data(), internal::Lend(key), internal::Lend(value));
      return code == FNHOST_STATUS_OK ? Status::Ok() : Error(code, "set", key);
    }
    std::string request;
    internal::AppendFixed(request, static_cast<uint32_t>(key.size()));
    request.append(key).append(value);
    return context.CallHost(service_, "set", request).status();
  }

  // Removes `key`; NOT_FOUND when it was absent.
  Status Erase(CallContext& context, std::string_view key) const {
    if (auto typed = service_.typed<fnhost_host_kv_v1>()) {
      int32_t code = typed->erase(typed.data(), internal::Lend(key));
      return code == FNHOST_STATUS_OK ? Status::Ok() : Error(code, "erase", key);
    }
    return context.CallHost(service_, "erase", key).status();
  }

 private:
  explicit Kv(Service service) : service_(std::move(service)) {}

  static Status Error(int32_t code, std::string_view method, std::string_view key) {
    return Status(internal::ToCode(code),
                  "kv: " + std::string(method) + " of '" + std::string(key) + "' failed");
  }

  Service service_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_KV_H_
