// FunctionServices: what a loaded version of a function reaches on the host: the host services
// the function is granted (FunctionSpec::services, carried in its ModuleConfig), bound to it
// when the version loads, and the host's log sink. It is the InitHost of the version's init
// steps in the host process, answers the bytes form of its services during calls (call_host,
// in process and for a worker's HOST_CALL frames alike), and describes the services for a
// zygote, which answers require_service from that description (ModuleConfig.offer).
//
// A granted service's bytes-form id is its position in the grant list, plus one: the same in
// every process of the function, and stable across its versions.
//
// Thread-safety: immutable after construction, but for Log's module version (set once, before
// any call); RequireService serves one init step at a time; CallBytes and Log are thread-safe.
// A bytes handler runs on the calling thread; an exception it throws becomes INTERNAL.

#ifndef FNHOST_SRC_RUNTIME_FUNCTION_SERVICES_H_
#define FNHOST_SRC_RUNTIME_FUNCTION_SERVICES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fnhost/log_sink.h"
#include "fnhost/metrics.h"
#include "fnhost/runtime.pb.h"
#include "src/runtime/init_step.h"
#include "src/runtime/service_registry.h"
#include "src/runtime/service_request.h"

namespace fnhost::internal {

class FunctionServices final : public InitHost {
 public:
  // `registry`, `sink` and `log_sink` may be null; those not null must outlive this.
  // `typed_forms`: whether the module runs in this process (false under process isolation).
  FunctionServices(const runtime::ModuleConfig& config, const ServiceRegistry* registry,
                   MetricsSink* sink, LogSink* log_sink, bool typed_forms);
  ~FunctionServices() override;

  const std::string& function() const { return function_; }
  // Set once the module is loaded (before its init): its lines carry it.
  void set_module_version(std::string version) { module_version_ = std::move(version); }
  const std::string& module_version() const { return module_version_; }

  // InitHost.
  int32_t RequireService(std::string_view name, uint32_t min_version, uint32_t forms,
                         fnhost_host_service* service, std::string* message) override;
  int32_t CallHost(uint64_t service_id, std::string_view method, std::string_view request,
                   std::string* response) override {
    return CallBytes(service_id, {}, method, request, response);
  }
  void Log(int32_t level, std::string_view message) override { LogLine(level, {}, message); }

  // Runs the bytes form of service `service_id` for the call `call_id` (empty at init): its
  // status code, and in `*response` its response or error message. INVALID_ARGUMENT for an id
  // the function was not given.
  int32_t CallBytes(uint64_t service_id, std::string_view call_id, std::string_view method,
                    std::string_view request, std::string* response) const;
  // Writes a line tagged with the function, the module version and `call_id`.
  void LogLine(int32_t level, std::string_view call_id, std::string_view message) const;

  // The description a zygote answers require_service from: every granted service, and the
  // names of the host's other services known so far (so a request for one of those is refused
  // as not granted rather than unknown).
  void DescribeInto(runtime::ModuleConfig* config) const;
  // The granted services registered now that have only a typed form (which no worker process
  // can use).
  std::vector<std::string> TypedOnlyGrants() const;

 private:
  struct Grant {
    std::string name;
    std::shared_ptr<const HostService> service;  // null: not registered when this was made
    BoundService bound;
  };
  ServiceDescription Describe(std::string_view name) const;

  const std::string function_;
  const ServiceRegistry* const registry_;
  LogSink* const log_sink_;
  const bool typed_forms_;
  std::vector<Grant> grants_;  // by id - 1
  std::string module_version_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_FUNCTION_SERVICES_H_
