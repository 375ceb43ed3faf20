// A module whose state init throws std::runtime_error("init threw on purpose"); the SDK turns
// it into INTERNAL "State::Create threw: init threw on purpose".
#include <stdexcept>

#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&, std::unique_ptr<State>*) {
    throw std::runtime_error("init threw on purpose");
  }
};

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response&) {
    return fnhost::sdk::InternalError("unreachable: init always throws");
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "init_throws", "1.0.0")
