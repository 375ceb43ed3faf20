#include "src/runtime/init_step.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"

namespace fnhost::internal {
namespace {

std::string_view View(fnhost_module_bytes bytes) {
  return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

fnhost_host_bytes Lend(const std::string& bytes) { return {bytes.data(), bytes.size()}; }

}  // namespace

void LogLineToStderr(std::string_view tag, int32_t level, std::string_view message) {
  static constexpr const char* kLevels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  const char* level_name = (level >= 0 && level <= 3) ? kLevels[level] : "?";
  std::fprintf(stderr, "[fnhost:%.*s] %s %.*s\n", static_cast<int>(tag.size()), tag.data(),
               level_name, static_cast<int>(message.size()), message.data());
}

InitStep::InitStep(const std::string& function, const std::string& init_config, uint32_t flags,
                   InitHost* host, CallOutput& error)
    : function_(function), host_(host) {
  raw_ = fnhost_host_init_context{
      .function_name = function.c_str(),
      .init_config = reinterpret_cast<const uint8_t*>(init_config.data()),
      .init_config_size = init_config.size(),
      .logger = fnhost_host_logger{this, &InitStep::Log},
      .error = error.raw(),
      .struct_size = sizeof(fnhost_host_init_context),
      .flags = flags,
      .host_data = this,
      .require_service = &InitStep::RequireService,
      .call_host = &InitStep::CallHost,
  };
}

int32_t InitStep::RequireService(void* self, fnhost_module_bytes name, uint32_t min_version,
                                 uint32_t forms, fnhost_host_service* service,
                                 fnhost_host_bytes* message) {
  auto* step = static_cast<InitStep*>(self);
  std::string text;
  int32_t code = FNHOST_STATUS_NOT_FOUND;
  if (service == nullptr) {
    code = FNHOST_STATUS_INVALID_ARGUMENT;
    text = FunctionMessage(step->function_, "require_service without a service to fill");
  } else if (step->host_ == nullptr) {
    text = FunctionMessage(step->function_, "service '", View(name),
                           "' is not offered: no host services here");
  } else {
    code = step->host_->RequireService(View(name), min_version, forms, service, &text);
  }
  if (code != FNHOST_STATUS_OK && message != nullptr) {
    *message = Lend(step->messages_.emplace_back(std::move(text)));
  }
  return code;
}

int32_t InitStep::CallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                           fnhost_module_bytes request, fnhost_host_bytes* response) {
  auto* step = static_cast<InitStep*>(self);
  int32_t code = FNHOST_STATUS_INVALID_ARGUMENT;
  if (step->host_ == nullptr) {
    step->response_ = absl::StrCat("service id ", service_id, " was not given to this function");
  } else {
    code = step->host_->CallHost(service_id, View(method), View(request), &step->response_);
  }
  if (response != nullptr) *response = Lend(step->response_);
  return code;
}

void InitStep::Log(void* self, int32_t level, const char* message, size_t size) {
  auto* step = static_cast<InitStep*>(self);
  const std::string_view text = size == 0 ? std::string_view() : std::string_view(message, size);
  if (step->host_ != nullptr) {
    step->host_->Log(level, text);
  } else {
    LogLineToStderr(step->function_, level, text);
  }
}

}  // namespace fnhost::internal
