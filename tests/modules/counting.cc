// A module that counts, in process-global atomics, how many states were initialised and how
// many instances were created, and how many of each are alive. Every call replies
// "inits=<n> instances=<n> live_states=<n> live_instances=<n>" whatever the request. The
// counters start from zero each time the object is (re)loaded, which also shows an unload.
#include <atomic>
#include <string>

#include "fnhost/module.h"

namespace {

std::atomic<int> g_inits{0};
std::atomic<int> g_instances{0};
std::atomic<int> g_live_states{0};
std::atomic<int> g_live_instances{0};

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext&,
                                    std::unique_ptr<State>* state) {
    *state = std::make_unique<State>();
    ++g_inits;
    return fnhost::sdk::Status::Ok();
  }
  State() { ++g_live_states; }
  ~State() { --g_live_states; }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

class Instance {
 public:
  explicit Instance(const State&) {
    ++g_instances;
    ++g_live_instances;
  }
  ~Instance() { --g_live_instances; }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    response.Write("inits=" + std::to_string(g_inits.load()) +
                   " instances=" + std::to_string(g_instances.load()) +
                   " live_states=" + std::to_string(g_live_states.load()) +
                   " live_instances=" + std::to_string(g_live_instances.load()));
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "counting", "1.0.0")
