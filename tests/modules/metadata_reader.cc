// noop with a CallContext: reads request metadata "user" and replies "ok" when the request has
// it (NOT_FOUND otherwise). The benchmarks measure a context read against noop's direct call.
#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 8;
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response,
                             fnhost::sdk::CallContext& context) {
    if (!context.metadata("user").has_value()) {
      return fnhost::sdk::NotFoundError("no metadata 'user'");
    }
    response.Write("ok");
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "metadata_reader", "1.0.0")
