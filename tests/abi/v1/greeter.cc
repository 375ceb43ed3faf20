// A module as the release of ABI 1 built it: against the SDK and abi.h of that release, frozen
// next to this file (fnhost/module.h and fnhost/abi.h, byte for byte; a test holds their
// hash). The host must keep loading and running it within its compatibility window.
//
// Init config: the greeting (empty: "hello"). Each call replies "<greeting>, <request>
// (call N)", N counting this instance's calls. Snapshots: the greeting, as section "greeting".
#include <string>

#include "fnhost/module.h"

static_assert(FNHOST_ABI_VERSION == 1u, "greeter must be built against the frozen ABI 1");
static_assert(FNHOST_SDK_VERSION == 1u, "greeter must be built with the SDK of ABI 1");

namespace {

using fnhost::sdk::Status;

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    std::string_view config = context.init_config();
    *state = std::make_unique<State>(config.empty() ? "hello" : std::string(config));
    context.Log(fnhost::sdk::LogLevel::kInfo, "greeter of ABI 1 ready");
    return Status::Ok();
  }
  static Status Restore(const fnhost::sdk::InitContext&, const fnhost::sdk::SnapshotReader& reader,
                        std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    Status found = reader.FindSection("greeting", &section);
    if (!found.ok()) return found;
    *state = std::make_unique<State>(std::string(section.bytes()));
    return Status::Ok();
  }
  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    return writer.WriteSection("greeting", greeting_);
  }

  explicit State(std::string greeting) : greeting_(std::move(greeting)) {}
  const std::string& greeting() const { return greeting_; }

 private:
  std::string greeting_;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    ++calls_;
    response.Write(state_.greeting() + ", " + std::string(request) + " (call " +
                   std::to_string(calls_) + ")");
    return Status::Ok();
  }

 private:
  const State& state_;
  int calls_ = 0;
};

}  // namespace

FNHOST_MODULE(State, Instance, "abi1_greeter", "0.9.0")
