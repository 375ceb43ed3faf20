// A module whose calls block until the test lets them go, so that pool tests can hold
// instances busy without sleeping. Request "wait:<fd>" reads one byte from file descriptor
// <fd> (a pipe the test owns) and replies "released"; any other request replies "done".
// Declares kMaxConcurrency 4 so tests can exercise per-instance concurrency.
#include <unistd.h>

#include <string>

#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&,
                                    std::unique_ptr<State>* state) {
    *state = std::make_unique<State>();
    return fnhost::sdk::Status::Ok();
  }
};

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 4;
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request.substr(0, 5) == "wait:") {
      int fd = std::stoi(std::string(request.substr(5)));
      char byte;
      if (::read(fd, &byte, 1) != 1) return fnhost::sdk::InternalError("gate pipe closed");
      response.Write("released");
      return fnhost::sdk::Status::Ok();
    }
    response.Write("done");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "gate", "1.0.0")
