// Log levels, and the one place the SDK writes a line through a host logger.
//
// Part of the module SDK (fnhost/module.h). The host tags each line: with the function at
// init, and with the function, the module version and the call id during a call. Stateless.

#ifndef FNHOST_SDK_LOGGING_H_
#define FNHOST_SDK_LOGGING_H_

#include <cstdint>
#include <string_view>

#include "fnhost/abi.h"

namespace fnhost::sdk {

enum class LogLevel : int32_t {
  kDebug = FNHOST_LOG_DEBUG,
  kInfo = FNHOST_LOG_INFO,
  kWarning = FNHOST_LOG_WARNING,
  kError = FNHOST_LOG_ERROR,
};

namespace internal {

inline void Log(const fnhost_host_logger& logger, LogLevel level, std::string_view message) {
  if (logger.log != nullptr) {
    logger.log(logger.host_data, static_cast<int32_t>(level), message.data(), message.size());
  }
}

}  // namespace internal
}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_LOGGING_H_
