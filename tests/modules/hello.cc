// The smallest module: replies "hello, <request>". Used by the host and loader tests.
#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    *state = std::make_unique<State>();
    (*state)->greeting_ = context.init_config().empty() ? "hello" : context.init_config();
    return fnhost::sdk::Status::Ok();
  }
  const std::string& greeting() const { return greeting_; }

 private:
  std::string greeting_;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    std::string reply = state_.greeting() + ", " + std::string(request);
    response.Write(reply);
    return fnhost::sdk::Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "hello", "1.0.0")
