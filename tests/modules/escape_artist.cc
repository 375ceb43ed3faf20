// A hostile module for the sandbox tests (tests/sandbox_host_test.cc): each request is an escape
// of tests/support/escapes.h, "ESCAPE ARG...", tried from inside the worker. The response is
// what the escape got, one line each ("READ <bytes>", "WROTE", "FORKS 3"...). An attempt that
// failed is an error whose code says how: PERMISSION_DENIED for EPERM or EACCES (what a sandbox
// answers), RESOURCE_EXHAUSTED for EAGAIN or ENOMEM (a limit), UNAVAILABLE for anything else
// (no network), with the lines as the message.
#include <cerrno>
#include <sstream>
#include <string>
#include <vector>

#include "fnhost/module.h"
#include "tests/support/escapes.h"

namespace {

class Collected final : public fnhost::testing::EscapeOutput {
 public:
  void Line(const std::string& line) override {
    if (!text.empty()) text += '\n';
    text += line;
  }
  std::string text;
};

fnhost::sdk::StatusCode CodeOf(int error) {
  using fnhost::sdk::StatusCode;
  switch (error) {
    case EPERM:
    case EACCES:
      return StatusCode::kPermissionDenied;
    case EAGAIN:
    case ENOMEM:
      return StatusCode::kResourceExhausted;
    default:
      return StatusCode::kUnavailable;
  }
}

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    std::istringstream words{std::string(request)};
    std::string escape;
    words >> escape;
    std::vector<std::string> args;
    for (std::string arg; words >> arg;) args.push_back(arg);
    Collected out;
    if (!fnhost::testing::RunEscape(escape, args, out)) {
      return fnhost::sdk::InvalidArgumentError(out.text);
    }
    if (out.first_error() != 0) {
      return fnhost::sdk::Status(CodeOf(out.first_error()), std::string(request) + ": " + out.text);
    }
    response.Write(out.text);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "escape_artist", "1.0.0")
