// A hostile module for the isolation tests: request "spin" busy-loops forever (no sleep, no
// system call); any other request is echoed back.
#include <cstdint>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "spin") {
      // The volatile counter keeps the loop from being an infinite loop without side effects.
      volatile uint64_t counter = 0;
      for (;;) {
        counter = counter + 1;
      }
    }
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "loop_forever", "1.0.0")
