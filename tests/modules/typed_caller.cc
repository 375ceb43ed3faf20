// Calls the typed host service "adder" (test_services.h, required at init) 1000 times per call,
// chaining the results, and replies with the last one. The benchmarks measure one typed service
// call against a direct C call of the same function.
#include <cstring>
#include <string>

#include "fnhost/module.h"
#include "tests/modules/test_services.h"

namespace {

constexpr int kCallsPerInvoke = 1000;

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    fnhost::sdk::StatusOr<fnhost::sdk::TypedService<fnhost_test_adder_v1>> adder =
        context.RequireService<fnhost_test_adder_v1>("adder", 1);
    if (!adder.ok()) return adder.status();
    *state = std::make_unique<State>();
    (*state)->adder = *adder;
    return fnhost::sdk::Status::Ok();
  }
  fnhost::sdk::TypedService<fnhost_test_adder_v1> adder;
};

class Instance {
 public:
  explicit Instance(const State& state) : adder_(state.adder) {}
  fnhost::sdk::Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    int64_t value = 0;
    for (int i = 0; i < kCallsPerInvoke; ++i) value = adder_->add(adder_.data(), value, i);
    char* out = response.Allocate(sizeof(value));
    if (out != nullptr) std::memcpy(out, &value, sizeof(value));
    return fnhost::sdk::Status::Ok();
  }

 private:
  fnhost::sdk::TypedService<fnhost_test_adder_v1> adder_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "typed_caller", "1.0.0")
