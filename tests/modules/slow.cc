// A module whose calls take a known time without sleeping: the request is a decimal number of
// microseconds, and Invoke busy-waits on steady_clock for that long, then replies
// "spun <n>us". A request that is not a number gives INVALID_ARGUMENT. For calls that must
// block until the test releases them, use the gate module instead.
#include <charconv>
#include <chrono>
#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    uint64_t micros = 0;
    auto [end, error] = std::from_chars(request.data(), request.data() + request.size(), micros);
    if (error != std::errc() || end != request.data() + request.size()) {
      return fnhost::sdk::InvalidArgumentError("slow: request must be a number of "
                                               "microseconds, got '" + std::string(request) +
                                               "'");
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
    while (std::chrono::steady_clock::now() < deadline) {
    }
    response.Write("spun " + std::to_string(micros) + "us");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "slow", "1.0.0")
