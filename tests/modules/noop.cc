// The cheapest possible handler: replies "ok" whatever the request. The warm-path benchmarks
// and the allocation test measure the host around it.
#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 8;
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    response.Write("ok");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "noop", "1.0.0")
