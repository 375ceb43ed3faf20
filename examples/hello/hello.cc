// The smallest example module: replies "<greeting>, <request>!" where the greeting is the init
// config ("Hello" when empty) and an empty request greets "world". Invoke only reads the
// state, so one instance serves many calls at once.
#include <string>

#include "fnhost/module.h"

namespace {

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    std::string_view greeting = context.init_config();
    *state = std::make_unique<State>(greeting.empty() ? "Hello" : greeting);
    return fnhost::sdk::Status::Ok();
  }
  explicit State(std::string_view greeting) : greeting_(greeting) {}
  const std::string& greeting() const { return greeting_; }

 private:
  const std::string greeting_;
};

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 16;
  explicit Instance(const State& state) : state_(state) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    std::string reply = state_.greeting() + ", " +
                        std::string(request.empty() ? std::string_view("world") : request) + "!";
    if (!response.Write(reply)) {
      return fnhost::sdk::ResourceExhaustedError("hello: no response buffer");
    }
    return fnhost::sdk::Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "hello", "1.0.0")
