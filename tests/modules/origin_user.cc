// A module that needs liborigin_dep.so and finds it through RUNPATH $ORIGIN: it loads only if
// the host resolves $ORIGIN against the module file's own directory, although the loader maps
// a sealed copy (/proc/self/fd/N). Replies "value=<what the library returns>".
#include <string>

#include "fnhost/module.h"

extern "C" int fnhost_origin_dep_value();

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    response.Write("value=" + std::to_string(fnhost_origin_dep_value()));
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "origin_user", "1.0.0")
