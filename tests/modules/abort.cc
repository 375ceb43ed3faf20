// A hostile module for the isolation tests: request "abort" calls std::abort() (SIGABRT); any
// other request is echoed back.
#include <cstdlib>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "abort") std::abort();
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "abort", "1.0.0")
