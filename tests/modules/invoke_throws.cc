// A module whose every call throws std::runtime_error("boom: <request>"); the SDK turns it
// into INTERNAL "Invoke threw: boom: <request>". State and instances are fine.
#include <stdexcept>
#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response&) {
    throw std::runtime_error("boom: " + std::string(request));
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "invoke_throws", "1.0.0")
