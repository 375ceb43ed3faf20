// A module whose state init fails with an ordinary error status: State::Create returns
// FAILED_PRECONDITION "init failed on purpose". Instances can never be created.
#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&, std::unique_ptr<State>*) {
    return fnhost::sdk::FailedPreconditionError("init failed on purpose");
  }
};

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response&) {
    return fnhost::sdk::InternalError("unreachable: init always fails");
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "init_fails", "1.0.0")
