// Test-only host side of the contexts of ABI 2. See harness_host.h.
#include "tests/support/harness_host.h"

#include <algorithm>
#include <cstring>

namespace fnhost::testing {
namespace {

constexpr int32_t kNeverCancelled = 0;
constexpr size_t kMaxResponseMetadata = 16;

std::string_view View(fnhost_module_bytes bytes) {
  return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

fnhost_host_bytes Lend(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

bool IsMetadataKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

fnhost_host_init_context HarnessHost::BeginInitStep(std::string_view init_config, uint32_t flags,
                                                    fnhost_host_output* error) {
  init_config_ = std::string(init_config);
  init_messages_.clear();
  init_response_.clear();
  return fnhost_host_init_context{
      .function_name = "harness",
      .init_config = reinterpret_cast<const uint8_t*>(init_config_.data()),
      .init_config_size = init_config_.size(),
      .logger = {this, &InitLog},
      .error = error,
      .struct_size = sizeof(fnhost_host_init_context),
      .flags = flags,
      .host_data = this,
      .require_service = &RequireService,
      .call_host = &InitCallHost,
  };
}

std::vector<std::string> HarnessHost::granted_requests() const { return granted_requests_; }

std::vector<LogLine> HarnessHost::logs() const {
  std::lock_guard<std::mutex> lock(log_mu_);
  return logs_;
}

void HarnessHost::AddLog(int32_t level, std::string_view message, std::string_view call_id) {
  std::lock_guard<std::mutex> lock(log_mu_);
  logs_.push_back(LogLine{level, std::string(message), std::string(call_id)});
}

void HarnessHost::InitLog(void* self, int32_t level, const char* message, size_t size) {
  static_cast<HarnessHost*>(self)->AddLog(level, std::string_view(message, size), "");
}

int32_t HarnessHost::Check(std::string_view name, uint32_t min_version, uint32_t forms,
                           size_t* index, std::string* message) const {
  const std::string service = "service '" + std::string(name) + "' ";
  auto it = std::find_if(services_.begin(), services_.end(),
                         [&](const HarnessService& s) { return s.name == name; });
  if (it == services_.end()) {
    *message = service + "is not offered by this host";
    return FNHOST_STATUS_NOT_FOUND;
  }
  if (!it->granted) {
    *message = service + "is not granted to function 'harness'";
    return FNHOST_STATUS_PERMISSION_DENIED;
  }
  if (it->version < min_version) {
    *message = service + "is version " + std::to_string(it->version) +
               "; the module requires version " + std::to_string(min_version) + " or later";
    return FNHOST_STATUS_FAILED_PRECONDITION;
  }
  if ((forms & FNHOST_SERVICE_TYPED) != 0 && (it->typed == nullptr || !typed_forms_available_)) {
    *message = service + "has no typed form" +
               (typed_forms_available_ ? "" : " under process isolation; use its bytes form");
    return FNHOST_STATUS_FAILED_PRECONDITION;
  }
  if ((forms & FNHOST_SERVICE_BYTES) != 0 && !it->bytes) {
    *message = service + "has no bytes form";
    return FNHOST_STATUS_FAILED_PRECONDITION;
  }
  *index = static_cast<size_t>(it - services_.begin());
  return FNHOST_STATUS_OK;
}

int32_t HarnessHost::RequireService(void* self, fnhost_module_bytes name, uint32_t min_version,
                                    uint32_t forms, fnhost_host_service* service,
                                    fnhost_host_bytes* message) {
  auto* host = static_cast<HarnessHost*>(self);
  std::string text;
  size_t index = 0;
  int32_t code = host->Check(View(name), min_version, forms, &index, &text);
  if (code == FNHOST_STATUS_OK && service->struct_size < offsetof(fnhost_host_service, id)) {
    text = "fnhost_host_service.struct_size " + std::to_string(service->struct_size) +
           " is too small";
    code = FNHOST_STATUS_INVALID_ARGUMENT;
  }
  if (code != FNHOST_STATUS_OK) {
    *message = Lend(host->init_messages_.emplace_back(std::move(text)));
    return code;
  }
  const HarnessService& offered = host->services_[index];
  const uint64_t id = offered.bytes ? index + 1 : 0;
  const bool typed = host->typed_forms_available_ && offered.typed != nullptr;
  fnhost_host_service filled{
      .struct_size = service->struct_size,
      .version = offered.version,
      .id = id,
      .typed = typed ? offered.typed : nullptr,
      .typed_data = typed ? offered.typed_data : nullptr,
  };
  std::memcpy(service, &filled, std::min<size_t>(service->struct_size, sizeof(filled)));
  if (id != 0) host->given_ids_.insert(id);
  host->granted_requests_.push_back(offered.name);
  return FNHOST_STATUS_OK;
}

int32_t HarnessHost::CallBytes(uint64_t service_id, fnhost_module_bytes method,
                               fnhost_module_bytes request, std::string* response) const {
  if (given_ids_.count(service_id) == 0) {
    *response = "service id " + std::to_string(service_id) + " was not given to function 'harness'";
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  return services_[service_id - 1].bytes(View(method), View(request), response);
}

int32_t HarnessHost::InitCallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                                  fnhost_module_bytes request, fnhost_host_bytes* response) {
  auto* host = static_cast<HarnessHost*>(self);
  int32_t code = host->CallBytes(service_id, method, request, &host->init_response_);
  *response = Lend(host->init_response_);
  return code;
}

HarnessHost::CallScope::CallScope(HarnessHost* host, const CallOptions& options)
    : host_(host),
      call_id_(options.call_id),
      traceparent_(options.traceparent),
      tracestate_(options.tracestate) {
  for (const auto& [key, value] : options.metadata) request_.emplace_back(Lower(key), value);
  for (const auto& [key, value] : request_) entries_.push_back({Lend(key), Lend(value)});
  raw_ = fnhost_host_call_context{
      .struct_size = sizeof(fnhost_host_call_context),
      .reserved = 0,
      .host_data = this,
      .call_id = Lend(call_id_),
      .deadline_ns = options.deadline_ns,
      .cancelled = options.cancelled != nullptr ? options.cancelled : &kNeverCancelled,
      .request_metadata = entries_.data(),
      .request_metadata_count = entries_.size(),
      .traceparent = Lend(traceparent_),
      .tracestate = Lend(tracestate_),
      .logger = {this, &Log},
      .set_response_metadata = &SetResponseMetadata,
      .call_host = &CallHost,
  };
}

int32_t HarnessHost::CallScope::SetResponseMetadata(void* self, fnhost_module_bytes key,
                                                    fnhost_module_bytes value) {
  auto* scope = static_cast<CallScope*>(self);
  if (!IsMetadataKey(View(key))) return FNHOST_STATUS_INVALID_ARGUMENT;
  std::string lower = Lower(View(key));
  for (auto& [existing, old_value] : scope->response_metadata_) {
    if (existing == lower) {
      old_value = std::string(View(value));
      return FNHOST_STATUS_OK;
    }
  }
  if (scope->response_metadata_.size() >= kMaxResponseMetadata) {
    return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  }
  scope->response_metadata_.emplace_back(std::move(lower), std::string(View(value)));
  return FNHOST_STATUS_OK;
}

int32_t HarnessHost::CallScope::CallHost(void* self, uint64_t service_id,
                                         fnhost_module_bytes method, fnhost_module_bytes request,
                                         fnhost_host_bytes* response) {
  auto* scope = static_cast<CallScope*>(self);
  int32_t code = scope->host_->CallBytes(service_id, method, request, &scope->host_response_);
  *response = Lend(scope->host_response_);
  return code;
}

void HarnessHost::CallScope::Log(void* self, int32_t level, const char* message, size_t size) {
  auto* scope = static_cast<CallScope*>(self);
  scope->host_->AddLog(level, std::string_view(message, size), scope->call_id_);
}

}  // namespace fnhost::testing
