#include "src/runtime/function_services.h"

#include <algorithm>
#include <exception>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"

namespace fnhost::internal {

FunctionServices::FunctionServices(const runtime::ModuleConfig& config,
                                   const ServiceRegistry* registry, MetricsSink* sink,
                                   LogSink* log_sink, bool typed_forms)
    : function_(config.function_name()),
      registry_(registry),
      log_sink_(log_sink),
      typed_forms_(typed_forms) {
  for (const std::string& name : config.service()) {
    Grant& grant = grants_.emplace_back();
    grant.name = name;
    if (registry_ != nullptr) grant.service = registry_->Find(name);
    if (grant.service != nullptr) grant.bound = grant.service->bind(function_, sink);
  }
}

FunctionServices::~FunctionServices() = default;

ServiceDescription FunctionServices::Describe(std::string_view name) const {
  ServiceDescription description;
  for (size_t i = 0; i < grants_.size(); ++i) {
    const Grant& grant = grants_[i];
    if (grant.name != name || grant.service == nullptr) continue;
    description.found = true;
    description.granted = true;
    description.version = grant.service->version;
    description.has_typed = grant.service->has_typed;
    description.id = grant.bound.bytes ? i + 1 : 0;
    if (typed_forms_) {
      description.typed = grant.bound.typed;
      description.typed_data = grant.bound.typed_data;
    }
    return description;
  }
  description.found = registry_ != nullptr && registry_->Find(name) != nullptr;
  return description;
}

int32_t FunctionServices::RequireService(std::string_view name, uint32_t min_version,
                                         uint32_t forms, fnhost_host_service* service,
                                         std::string* message) {
  return AnswerServiceRequest(function_, name, Describe(name), min_version, forms, service,
                              message);
}

int32_t FunctionServices::CallBytes(uint64_t service_id, std::string_view call_id,
                                    std::string_view method, std::string_view request,
                                    std::string* response) const {
  response->clear();
  if (service_id == 0 || service_id > grants_.size() || !grants_[service_id - 1].bound.bytes) {
    *response = FunctionMessage(function_, "service id ", service_id,
                                " was not given to this function");
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  const Grant& grant = grants_[service_id - 1];
  absl::Status status;
  try {
    status = grant.bound.bytes(ServiceCall{function_, call_id, method, request}, response);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("threw: ", e.what()));
  } catch (...) {
    status = absl::InternalError("threw a non-standard exception");
  }
  if (status.ok()) return FNHOST_STATUS_OK;
  *response = absl::StrCat("service '", grant.name, "': ", status.message());
  return static_cast<int32_t>(status.code());
}

void FunctionServices::LogLine(int32_t level, std::string_view call_id,
                               std::string_view message) const {
  if (log_sink_ != nullptr) {
    log_sink_->Log(LogRecord{
        .function = function_,
        .module_version = module_version_,
        .call_id = call_id,
        .level = static_cast<LogLevel>(std::clamp(level, 0, 3)),
        .message = message,
    });
    return;
  }
  std::string tag = function_;
  if (!module_version_.empty()) absl::StrAppend(&tag, " ", module_version_);
  if (!call_id.empty()) absl::StrAppend(&tag, " call=", AsAbsl(call_id));
  LogLineToStderr(tag, level, message);
}

void FunctionServices::DescribeInto(runtime::ModuleConfig* config) const {
  config->clear_offer();
  for (size_t i = 0; i < grants_.size(); ++i) {
    const Grant& grant = grants_[i];
    if (grant.service == nullptr) continue;
    runtime::ServiceOffer& offer = *config->add_offer();
    offer.set_name(grant.name);
    offer.set_granted(true);
    offer.set_version(grant.service->version);
    offer.set_typed(grant.service->has_typed);
    offer.set_id(grant.bound.bytes ? i + 1 : 0);
  }
  if (registry_ == nullptr) return;
  for (const std::string& name : registry_->Names()) {
    const bool granted = std::any_of(grants_.begin(), grants_.end(),
                                     [&](const Grant& grant) { return grant.name == name; });
    if (!granted) config->add_offer()->set_name(name);
  }
}

std::vector<std::string> FunctionServices::TypedOnlyGrants() const {
  std::vector<std::string> names;
  for (const Grant& grant : grants_) {
    if (grant.service != nullptr && !grant.service->has_bytes) names.push_back(grant.name);
  }
  return names;
}

}  // namespace fnhost::internal
