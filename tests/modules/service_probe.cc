// A module that requires host services at init as its init config says, and uses them in
// calls, so that tests can check service requests and both forms through the raw ABI.
//
// Init config: words separated by spaces, each one of
//   "NAME:MIN:FORM"            require service NAME at version MIN or later; FORM is "typed"
//                              (the "adder" table of test_services.h), "bytes" or "any";
//   "call:NAME:METHOD:REQUEST" call METHOD of the (already required) service NAME at init,
//                              through the bytes form, and keep the response.
// The first failure is the init's status, as the service gave it.
//
// Requests: "add NAME A B" (typed: A + B through the service), "bytes NAME METHOD REQUEST"
// (bytes form), "about NAME" ("v<version> typed=<0|1> bytes=<0|1>"), "initcall" (the response
// kept at init).
#include <charconv>
#include <map>
#include <string>
#include <vector>

#include "fnhost/module.h"
#include "tests/modules/test_services.h"

namespace {

using fnhost::sdk::ServiceForms;
using fnhost::sdk::Status;
using fnhost::sdk::StatusOr;

std::vector<std::string_view> Split(std::string_view text, char separator, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t at = text.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.push_back(text);
  return parts;
}

int64_t ToInt(std::string_view text) {
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    auto fresh = std::make_unique<State>();
    for (std::string_view word : Split(context.init_config(), ' ', 64)) {
      if (word.empty()) continue;
      std::vector<std::string_view> parts = Split(word, ':', 4);
      if (parts.size() < 3) {
        return fnhost::sdk::InvalidArgumentError("bad word " + std::string(word));
      }
      Status status = parts[0] == "call" ? fresh->CallAtInit(context, parts)
                                         : fresh->Require(context, parts);
      if (!status.ok()) return status;
    }
    *state = std::move(fresh);
    return Status::Ok();
  }

  // A required service: the Service (bytes or any form) or only its typed form.
  struct Entry {
    fnhost::sdk::Service service;
    fnhost::sdk::TypedService<fnhost_test_adder_v1> adder;
  };

  const Entry* Find(std::string_view name) const {
    auto it = services_.find(std::string(name));
    return it == services_.end() ? nullptr : &it->second;
  }
  const std::string& init_response() const { return init_response_; }

 private:
  Status Require(const fnhost::sdk::InitContext& context,
                 const std::vector<std::string_view>& parts) {
    const uint32_t min_version = static_cast<uint32_t>(ToInt(parts[1]));
    Entry& entry = services_[std::string(parts[0])];
    if (parts[2] == "typed") {
      StatusOr<fnhost::sdk::TypedService<fnhost_test_adder_v1>> adder =
          context.RequireService<fnhost_test_adder_v1>(parts[0], min_version);
      if (!adder.ok()) return adder.status();
      entry.adder = *adder;
      return Status::Ok();
    }
    StatusOr<fnhost::sdk::Service> service = context.RequireService(
        parts[0], min_version, parts[2] == "bytes" ? ServiceForms::kBytes : ServiceForms::kAny);
    if (!service.ok()) return service.status();
    entry.service = *service;
    entry.adder = service->typed<fnhost_test_adder_v1>();
    return Status::Ok();
  }

  Status CallAtInit(const fnhost::sdk::InitContext& context,
                    const std::vector<std::string_view>& parts) {
    const Entry* entry = Find(parts[1]);
    if (entry == nullptr) {
      return fnhost::sdk::NotFoundError("not required: " + std::string(parts[1]));
    }
    StatusOr<std::string_view> reply =
        context.CallHost(entry->service, parts[2], parts.size() > 3 ? parts[3] : "");
    if (!reply.ok()) return reply.status();
    init_response_ = std::string(*reply);
    return Status::Ok();
  }

  std::map<std::string, Entry> services_;
  std::string init_response_;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response,
                fnhost::sdk::CallContext& context) {
    std::vector<std::string_view> words = Split(request, ' ', 4);
    if (words[0] == "initcall") {
      response.Write(state_.init_response());
      return Status::Ok();
    }
    const State::Entry* entry = words.size() > 1 ? state_.Find(words[1]) : nullptr;
    if (entry == nullptr) {
      return fnhost::sdk::NotFoundError("no such service in: " + std::string(request));
    }
    if (words[0] == "add" && words.size() == 4) {
      const fnhost::sdk::TypedService<fnhost_test_adder_v1>& adder = entry->adder;
      if (!adder) return fnhost::sdk::FailedPreconditionError("no typed form");
      response.Write(std::to_string(adder->add(adder.data(), ToInt(words[2]), ToInt(words[3]))));
    } else if (words[0] == "bytes" && words.size() >= 3) {
      StatusOr<std::string_view> reply =
          context.CallHost(entry->service, words[2], words.size() > 3 ? words[3] : "");
      if (!reply.ok()) return reply.status();
      response.Write(*reply);
    } else if (words[0] == "about") {
      response.Write("v" + std::to_string(entry->service.version()) +
                     " typed=" + std::to_string(entry->service.has_typed()) +
                     " bytes=" + std::to_string(entry->service.has_bytes()));
    } else {
      return fnhost::sdk::InvalidArgumentError("unknown request '" + std::string(request) + "'");
    }
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "service_probe", "1.0.0")
