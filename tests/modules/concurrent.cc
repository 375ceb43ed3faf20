// A module whose instances serve four calls at once (kMaxConcurrency = 4): Invoke touches no
// mutable state and echoes the request unchanged.
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
  static constexpr uint32_t kMaxConcurrency = 4;
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "concurrent", "1.0.0")
