// LogSink: where the lines that modules log go (fnhost::sdk::InitContext::Log at init,
// fnhost::sdk::CallContext::Log during a call), tagged with the function, the module version and
// the call's id. Under process isolation a worker sends each line to the host as it is logged,
// so that the lines before a crash are not lost.
//
// Without a sink (HostOptions::log_sink null) lines go to stderr as
//   [fnhost:greet 1.2.0 call=00000000000004d2] INFO the message
//
// Thread-safety: Log is called from the calling threads (and, in process isolation, from the
// thread waiting for a worker), concurrently; it must be thread-safe and quick.

#ifndef FNHOST_LOG_SINK_H_
#define FNHOST_LOG_SINK_H_

#include <cstdint>
#include <string_view>

namespace fnhost {

enum class LogLevel : int32_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// One line. The views are valid during the Log call.
struct LogRecord {
  std::string_view function;
  std::string_view module_version;  // empty when not known yet (a log in the module's init)
  std::string_view call_id;         // empty at init
  LogLevel level = LogLevel::kInfo;
  std::string_view message;
};

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Log(const LogRecord& record) = 0;
};

}  // namespace fnhost

#endif  // FNHOST_LOG_SINK_H_
