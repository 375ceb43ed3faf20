// A hostile module for the isolation tests: request "write:<bytes>" writes <bytes> straight onto
// the worker's channel to the host (found by probing its descriptors), then replies normally;
// any other request is echoed back.
#include <unistd.h>

#include <string>

#include "find_channel.h"
#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    constexpr std::string_view kWrite = "write:";
    if (request.substr(0, kWrite.size()) == kWrite) {
      std::string_view bytes = request.substr(kWrite.size());
      if (::write(FindChannelFd(), bytes.data(), bytes.size()) < 0) {
        return fnhost::sdk::InternalError("write to the channel failed");
      }
      response.Write("wrote");
      return fnhost::sdk::Status::Ok();
    }
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "garbage_ipc", "1.0.0")
