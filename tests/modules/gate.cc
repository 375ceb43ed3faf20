// A module whose calls block until the test lets them go, so that pool tests can hold
// instances busy without sleeping. Request "wait:<fd>" reads one byte from file descriptor
// <fd> (a pipe the test owns) and replies "released"; any other request replies "done".
// Declares kMaxConcurrency 4 so tests can exercise per-instance concurrency.
// Built a second time as canary.so (FNHOST_GATE_AS_CANARY), the second version of the
// traffic-split tests: version "2.0.0", and every reply prefixed with "canary ".
#include <unistd.h>

#include <string>

#include "fnhost/module.h"

namespace {

#ifdef FNHOST_GATE_AS_CANARY
constexpr std::string_view kReplyPrefix = "canary ";
#define FNHOST_GATE_VERSION "2.0.0"
#else
constexpr std::string_view kReplyPrefix = "";
#define FNHOST_GATE_VERSION "1.0.0"
#endif

using State = fnhost::sdk::NoState;

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 4;
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request.substr(0, 5) == "wait:") {
      int fd = std::stoi(std::string(request.substr(5)));
      char byte;
      if (::read(fd, &byte, 1) != 1) return fnhost::sdk::InternalError("gate pipe closed");
      response.Write(std::string(kReplyPrefix) + "released");
      return fnhost::sdk::Status::Ok();
    }
    response.Write(std::string(kReplyPrefix) + "done");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "gate", FNHOST_GATE_VERSION)
