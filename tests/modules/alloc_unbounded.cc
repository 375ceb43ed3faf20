// A hostile module for the isolation tests: request "alloc" allocates 1 MiB blocks with new
// until an allocation fails (std::bad_alloc escapes to the SDK) — but stops at 8 GiB and
// replies "no limit hit", so a broken memory limit cannot take the machine down. Any other
// request is echoed back.
#include <memory>
#include <vector>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "alloc") {
      constexpr size_t kBlock = 1 << 20;
      std::vector<std::unique_ptr<char[]>> blocks;
      for (int i = 0; i < 8192; ++i) {
        blocks.push_back(std::make_unique_for_overwrite<char[]>(kBlock));
      }
      response.Write("no limit hit");
      return fnhost::sdk::Status::Ok();
    }
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "alloc_unbounded", "1.0.0")
