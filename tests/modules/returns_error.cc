// A module whose every call fails with INVALID_ARGUMENT "bad request: <request>" and writes no
// response.
#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response&) {
    return fnhost::sdk::InvalidArgumentError("bad request: " + std::string(request));
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "returns_error", "1.0.0")
