// A hostile module for the isolation tests: request "fork" forks a child that lingers forever
// (keeping every descriptor, the worker's channel included) and replies with the child's pid;
// any other request is echoed back.
#include <unistd.h>

#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "fork") {
      pid_t child = ::fork();
      if (child == 0) {
        for (;;) ::pause();
      }
      if (child < 0) return fnhost::sdk::InternalError("fork failed");
      response.Write(std::to_string(child));
      return fnhost::sdk::Status::Ok();
    }
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "fork_children", "1.0.0")
