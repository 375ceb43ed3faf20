#include "fnhost/module.h"

struct State {
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&, std::unique_ptr<State>* s) {
    *s = std::make_unique<State>();
    return fnhost::sdk::Status::Ok();
  }
};
struct Instance {
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    response.Write("pong");
    return fnhost::sdk::Status::Ok();
  }
};
FNHOST_MODULE(State, Instance, "consumer", "1.0.0")
