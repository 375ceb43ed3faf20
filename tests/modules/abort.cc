// A hostile module for the isolation tests: request "abort" calls std::abort() (SIGABRT); any
// other request is echoed back.
#include <cstdlib>

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
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "abort") std::abort();
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "abort", "1.0.0")
