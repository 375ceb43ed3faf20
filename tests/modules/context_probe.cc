// A module whose Invoke takes a CallContext and reports what it sees, so that tests can check
// each accessor through the raw ABI. The request is a command and its arguments, separated by
// spaces; the reply:
//   "meta KEY"       the first value of request metadata KEY, or "(absent)";
//   "list"           every pair of request metadata, "key=value" joined by ";";
//   "deadline"       "none", "passed" or "ahead";
//   "cancelled"      "yes" or "no";
//   "trace"          "<traceparent>|<tracestate>";
//   "id"             the call id;
//   "set KEY VALUE"  sets response metadata KEY to VALUE and replies "set", or fails with the
//                    host's refusal;
//   "log MESSAGE"    logs MESSAGE at INFO and replies "logged";
//   "throw"          throws std::runtime_error("thrown with a context");
//   "spin"           polls cancelled() and the deadline until one of them ends the call:
//                    CANCELLED or DEADLINE_EXCEEDED (the caller must give a deadline);
//   "host METHOD REQUEST"  calls METHOD of the host service "echo" (bytes form), required at
//                    init when the init config is "echo", and replies with its response.
#include <stdexcept>
#include <string>
#include <vector>

#include "fnhost/module.h"

namespace {

using fnhost::sdk::CallContext;
using fnhost::sdk::Status;

std::vector<std::string_view> Split(std::string_view text, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t space = text.find(' ');
    if (space == std::string_view::npos) break;
    parts.push_back(text.substr(0, space));
    text.remove_prefix(space + 1);
  }
  parts.push_back(text);
  return parts;
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    auto fresh = std::make_unique<State>();
    if (context.init_config() == "echo") {
      fnhost::sdk::StatusOr<fnhost::sdk::Service> echo = context.RequireService("echo", 1);
      if (!echo.ok()) return echo.status();
      fresh->echo = *echo;
    }
    *state = std::move(fresh);
    return Status::Ok();
  }
  fnhost::sdk::Service echo;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response, CallContext& context) {
    std::vector<std::string_view> words = Split(request, 3);
    std::string_view command = words[0];
    std::string_view argument = words.size() > 1 ? words[1] : std::string_view();
    if (command == "meta") {
      response.Write(context.metadata(argument).value_or("(absent)"));
    } else if (command == "list") {
      std::string all;
      for (fnhost::sdk::MetadataEntry entry : context.request_metadata()) {
        if (!all.empty()) all += ';';
        all.append(entry.key).append("=").append(entry.value);
      }
      response.Write(all);
    } else if (command == "deadline") {
      if (!context.has_deadline()) {
        response.Write("none");
      } else {
        response.Write(context.remaining().count() > 0 ? "ahead" : "passed");
      }
    } else if (command == "cancelled") {
      response.Write(context.cancelled() ? "yes" : "no");
    } else if (command == "trace") {
      response.Write(std::string(context.traceparent()) + "|" + std::string(context.tracestate()));
    } else if (command == "id") {
      response.Write(context.call_id());
    } else if (command == "set") {
      Status set = context.SetResponseMetadata(argument, words.size() > 2 ? words[2] : "");
      if (!set.ok()) return set;
      response.Write("set");
    } else if (command == "log") {
      context.Log(fnhost::sdk::LogLevel::kInfo, request.substr(4));
      response.Write("logged");
    } else if (command == "throw") {
      throw std::runtime_error("thrown with a context");
    } else if (command == "spin") {
      return Spin(context);
    } else if (command == "host") {
      fnhost::sdk::StatusOr<std::string_view> reply =
          context.CallHost(state_.echo, argument, words.size() > 2 ? words[2] : "");
      if (!reply.ok()) return reply.status();
      response.Write(*reply);
    } else {
      return fnhost::sdk::InvalidArgumentError("unknown command '" + std::string(command) + "'");
    }
    return Status::Ok();
  }

 private:
  static Status Spin(const CallContext& context) {
    if (!context.has_deadline()) return fnhost::sdk::InvalidArgumentError("spin needs a deadline");
    while (true) {
      if (context.cancelled()) return fnhost::sdk::CancelledError("spin: cancelled");
      if (context.remaining().count() <= 0) {
        return fnhost::sdk::DeadlineExceededError("spin: deadline passed");
      }
    }
  }

  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "context_probe", "2.1.0")
