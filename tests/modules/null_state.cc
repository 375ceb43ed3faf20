// A module whose State::Create returns OK without producing a state, which the SDK must report
// as INTERNAL "State::Create returned OK without a state".
#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&, std::unique_ptr<State>*) {
    return fnhost::sdk::Status::Ok();
  }
};

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response&) {
    return fnhost::sdk::InternalError("unreachable: there is never a state");
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "null_state", "1.0.0")
