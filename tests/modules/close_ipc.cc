// A hostile module for the isolation tests: request "close" closes the worker's channel to the
// host (found by probing its descriptors) and replies normally; any other request is echoed.
#include <unistd.h>

#include "find_channel.h"
#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "close") ::close(FindChannelFd());
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "close_ipc", "1.0.0")
