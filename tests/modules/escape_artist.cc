// A hostile module for the sandbox tests (tests/sandbox_host_test.cc): each request is an escape
// of tests/support/escapes.h, "ESCAPE ARG...", tried from inside the worker. The response is
// what the escape got, one line each ("READ <bytes>", "WROTE", "FORKS 3"...). An attempt that
// failed is an error whose code says how: PERMISSION_DENIED for EPERM or EACCES (what a sandbox
// answers), RESOURCE_EXHAUSTED for EAGAIN or ENOMEM (a limit), UNAVAILABLE for anything else
// (no network), with the lines as the message.
//
// With the init config "instance-escape ESCAPE ARG...", each instance tries that escape when it
// is created (module code that runs in every worker before its first call), and the request
// "instance-escape" answers what it got, the same way.
#include <cerrno>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
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

// Runs `request` ("ESCAPE ARG...") and answers what it got, as the file comment says.
fnhost::sdk::Status Escape(std::string_view request, std::string* text) {
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
  *text = out.text;
  return fnhost::sdk::Status::Ok();
}

constexpr std::string_view kInstanceEscape = "instance-escape";

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    *state = std::make_unique<State>();
    (*state)->config = std::string(context.init_config());
    return fnhost::sdk::Status::Ok();
  }
  std::string config;
};

class Instance {
 public:
  explicit Instance(const State& state) {
    std::string_view config = state.config;
    if (config.substr(0, kInstanceEscape.size()) == kInstanceEscape) {
      instance_escape_ = Escape(config.substr(kInstanceEscape.size()), &instance_text_);
    }
  }
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == kInstanceEscape) {
      if (instance_escape_.ok()) response.Write(instance_text_);
      return instance_escape_;
    }
    std::string text;
    fnhost::sdk::Status status = Escape(request, &text);
    if (status.ok()) response.Write(text);
    return status;
  }

 private:
  fnhost::sdk::Status instance_escape_ = fnhost::sdk::Status::Ok();
  std::string instance_text_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "escape_artist", "1.0.0")
