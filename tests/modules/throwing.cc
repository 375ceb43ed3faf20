// A module that throws where its init config says, to prove that the SDK turns every
// exception into INTERNAL with the exception's text:
//   "create:other"   State::Create throws an int (not a std::exception);
//   "instance:std"   the Instance constructor throws std::logic_error("instance failed on
//                    purpose");
//   "instance:other" the Instance constructor throws an int;
//   anything else    state and instances are fine.
// Invoke throws std::out_of_range("invoke failed on purpose") for request "std", an int for
// request "other", and echoes any other request.
#include <stdexcept>
#include <string>

#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    if (context.init_config() == "create:other") throw 42;
    *state = std::make_unique<State>();
    (*state)->mode_ = context.init_config();
    return fnhost::sdk::Status::Ok();
  }
  const std::string& mode() const { return mode_; }

 private:
  std::string mode_;
};

class Instance {
 public:
  explicit Instance(const State& state) {
    if (state.mode() == "instance:std") throw std::logic_error("instance failed on purpose");
    if (state.mode() == "instance:other") throw 42;
  }
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "std") throw std::out_of_range("invoke failed on purpose");
    if (request == "other") throw 42;
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "throwing", "1.0.0")
