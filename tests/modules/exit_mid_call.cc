// A hostile module for the isolation tests: request "exit" calls exit(0) in the middle of the
// call; any other request is echoed back.
#include <cstdlib>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "exit") std::exit(0);
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "exit_mid_call", "1.0.0")
