// A module whose calls wait without using the CPU: the request is a decimal number of
// milliseconds, and Invoke sleeps that long, then replies "slept <n>ms". For the serve tests
// that saturate a function in process isolation while others keep serving.
#include <time.h>

#include <charconv>
#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    long millis = 0;
    auto [end, error] = std::from_chars(request.data(), request.data() + request.size(), millis);
    if (error != std::errc() || end != request.data() + request.size() || millis < 0) {
      return fnhost::sdk::InvalidArgumentError("the request must be milliseconds to sleep");
    }
    timespec left{millis / 1000, (millis % 1000) * 1000000};
    while (::nanosleep(&left, &left) != 0) {
    }
    response.Write("slept " + std::string(request) + "ms");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "sleep", "1.0.0")
