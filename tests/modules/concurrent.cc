// A module whose instances serve four calls at once (kMaxConcurrency = 4): Invoke touches no
// mutable state and echoes the request unchanged.
#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

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
