// Host services through the Host, in both isolation modes (parameterised): grants, the refusals
// a module gets at init (each naming the service), the bytes form (at init and in calls, with
// the function and the call id its handler sees), the typed form (in process only, refused at
// Register for an isolated function), and the built-in kv and metrics services.
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "fnhost/call_context.h"
#include "fnhost/host.h"
#include "fnhost/host_service.h"
#include "fnhost/metrics.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/modules/test_services.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::PrometheusValue;
using ::fnhost::testing::TakeHost;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

int64_t Add(void*, int64_t a, int64_t b) { return a + b; }
const fnhost_test_adder_v1 kAdder = {&Add};

struct Seen {
  std::string function, call_id, method, request;
};

class HostServicesTest : public ::testing::TestWithParam<IsolationOptions::Mode> {
 protected:
  void SetUp() override {
    HostOptions options;
    options.metrics_sink = &metrics_;
    options.kv_max_bytes = 64;
    ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host_));
    ServiceSpec echo;
    echo.name = "echo";
    echo.version = 3;
    echo.bytes = [this](const ServiceCall& call, std::string* response) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back({std::string(call.function), std::string(call.call_id),
                       std::string(call.method), std::string(call.request)});
      if (call.method == "fail") return absl::FailedPreconditionError("asked to fail");
      if (call.method == "throw") throw std::runtime_error("handler threw");
      *response = std::string(call.method) + ":" + std::string(call.request);
      return absl::OkStatus();
    };
    ASSERT_TRUE(host_->RegisterService(echo).ok());
    ServiceSpec adder;
    adder.name = "adder";
    adder.typed = &kAdder;
    adder.bytes = [](const ServiceCall&, std::string* response) {
      *response = "bytes adder";
      return absl::OkStatus();
    };
    ASSERT_TRUE(host_->RegisterService(adder).ok());
  }

  bool isolated() const { return GetParam() == IsolationOptions::Mode::kProcess; }

  // Registers function `name` of module `module` with `init_config`, granted `services`.
  void Register(const std::string& name, const std::string& module, const std::string& init,
                std::vector<std::string> services) {
    FunctionSpec spec;
    spec.name = name;
    spec.module_path = TestModule(module);
    spec.init_config = init;
    spec.services = std::move(services);
    spec.isolation.mode = GetParam();
    ASSERT_TRUE(host_->Register(spec).ok());
  }

  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  MetricsAggregator metrics_;
  std::unique_ptr<Host> host_;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

TEST_P(HostServicesTest, AServiceNotGrantedIsPermissionDeniedAtInitNamingIt) {
  ASSERT_NO_FATAL_FAILURE(Register("f", "service_probe", "echo:1:bytes", {"kv"}));
  absl::StatusOr<std::string> result = host_->Invoke("f", "about echo");
  EXPECT_TRUE(absl::IsPermissionDenied(result.status())) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("service 'echo'"));
  EXPECT_THAT(result.status().message(), HasSubstr("not granted"));
  EXPECT_THAT(result.status().message(), HasSubstr("function 'f'"));
}

TEST_P(HostServicesTest, UnknownAndTooOldServicesAreRefusedNamingThem) {
  ASSERT_NO_FATAL_FAILURE(Register("unknown", "service_probe", "nope:1:bytes", {"nope"}));
  absl::StatusOr<std::string> unknown = host_->Invoke("unknown", "about nope");
  EXPECT_TRUE(absl::IsNotFound(unknown.status())) << unknown.status();
  EXPECT_THAT(unknown.status().message(), HasSubstr("service 'nope'"));
  ASSERT_NO_FATAL_FAILURE(Register("old", "service_probe", "echo:4:bytes", {"echo"}));
  absl::StatusOr<std::string> old = host_->Invoke("old", "about echo");
  EXPECT_TRUE(absl::IsFailedPrecondition(old.status())) << old.status();
  EXPECT_THAT(old.status().message(), HasSubstr("service 'echo' is version 3"));
}

TEST_P(HostServicesTest, TheBytesFormServesCallsAndSeesTheFunctionAndTheCall) {
  ASSERT_NO_FATAL_FAILURE(Register("f", "service_probe", "echo:2:bytes", {"echo"}));
  EXPECT_THAT(host_->Invoke("f", "about echo"), IsOkAndHolds("v3 typed=0 bytes=1"));
  CallContext context;
  CallOptions options;
  options.context = &context;
  EXPECT_THAT(host_->Invoke("f", "bytes echo up hello", options), IsOkAndHolds("up:hello"));
  std::vector<Seen> calls = seen();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().function, "f");
  EXPECT_EQ(calls.back().call_id, context.call_id());
  // The handler's error and exception come back to the module, which fails the call with it.
  absl::StatusOr<std::string> failed = host_->Invoke("f", "bytes echo fail x");
  EXPECT_TRUE(absl::IsFailedPrecondition(failed.status())) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr("asked to fail"));
  absl::StatusOr<std::string> threw = host_->Invoke("f", "bytes echo throw x");
  EXPECT_TRUE(absl::IsInternal(threw.status())) << threw.status();
  EXPECT_THAT(threw.status().message(), HasSubstr("handler threw"));
  // The function keeps serving.
  EXPECT_THAT(host_->Invoke("f", "bytes echo again y"), IsOkAndHolds("again:y"));
}

TEST_P(HostServicesTest, TheModulesInitCallsTheBytesForm) {
  ASSERT_NO_FATAL_FAILURE(
      Register("f", "service_probe", "echo:1:bytes call:echo:boot:now", {"echo"}));
  EXPECT_THAT(host_->Invoke("f", "initcall"), IsOkAndHolds("boot:now"));
  std::vector<Seen> calls = seen();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front().method, "boot");
  EXPECT_EQ(calls.front().call_id, "");  // at init
}

TEST_P(HostServicesTest, TheTypedFormExistsOnlyInProcess) {
  ASSERT_NO_FATAL_FAILURE(Register("typed", "service_probe", "adder:1:typed", {"adder"}));
  ASSERT_NO_FATAL_FAILURE(Register("any", "service_probe", "adder:1:any", {"adder"}));
  absl::StatusOr<std::string> typed = host_->Invoke("typed", "add adder 2 3");
  if (isolated()) {
    EXPECT_TRUE(absl::IsFailedPrecondition(typed.status())) << typed.status();
    EXPECT_THAT(typed.status().message(), HasSubstr("service 'adder'"));
    EXPECT_THAT(typed.status().message(), HasSubstr("process isolation"));
    // Asked with either form, a module gets the bytes form and runs there too.
    EXPECT_THAT(host_->Invoke("any", "about adder"), IsOkAndHolds("v1 typed=0 bytes=1"));
  } else {
    EXPECT_THAT(typed, IsOkAndHolds("5"));
    EXPECT_THAT(host_->Invoke("any", "about adder"), IsOkAndHolds("v1 typed=1 bytes=1"));
  }
}

TEST_P(HostServicesTest, ATypedOnlyServiceIsRefusedForIsolatedFunctions) {
  ServiceSpec world;
  world.name = "world";
  world.typed = &kAdder;
  FunctionSpec spec;
  spec.name = "isolated";
  spec.module_path = TestModule("service_probe");
  spec.services = {"world"};
  spec.isolation.mode = GetParam();
  // Registered first, the function makes the typed-only service's registration fail...
  ASSERT_TRUE(host_->Register(spec).ok());
  absl::Status registered = host_->RegisterService(world);
  EXPECT_EQ(registered.ok(), !isolated()) << registered;
  if (isolated()) {
    EXPECT_TRUE(absl::IsInvalidArgument(registered)) << registered;
    EXPECT_THAT(registered.message(), HasSubstr("function 'isolated': service 'world'"));
    // ...and registered first, the service makes the function's registration fail.
    world.name = "world2";
    ASSERT_TRUE(host_->RegisterService(world).ok());
    spec.name = "isolated2";
    spec.services = {"world2"};
    absl::Status refused = host_->Register(spec);
    EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
    EXPECT_THAT(refused.message(), HasSubstr("only a typed form"));
  }
}

TEST_P(HostServicesTest, RegisterServiceChecksItsSpec) {
  ServiceSpec bad;
  bad.name = "Bad Name";
  bad.bytes = [](const ServiceCall&, std::string*) { return absl::OkStatus(); };
  EXPECT_TRUE(absl::IsInvalidArgument(host_->RegisterService(bad)));
  ServiceSpec no_form;
  no_form.name = "empty";
  EXPECT_TRUE(absl::IsInvalidArgument(host_->RegisterService(no_form)));
  ServiceSpec taken;
  taken.name = "kv";
  taken.bytes = bad.bytes;
  EXPECT_TRUE(absl::IsAlreadyExists(host_->RegisterService(taken)));
}

TEST_P(HostServicesTest, KvIsSharedByTheFunctionsGrantedItUpToItsCap) {
  ASSERT_NO_FATAL_FAILURE(Register("writer", "builtin_probe", "", {"kv", "metrics"}));
  ASSERT_NO_FATAL_FAILURE(Register("reader", "builtin_probe", "", {"kv", "metrics"}));
  ASSERT_TRUE(host_->Invoke("writer", "put colour blue").ok());
  EXPECT_THAT(host_->Invoke("reader", "get colour"), IsOkAndHolds("blue"));
  absl::StatusOr<std::string> full = host_->Invoke("writer", "put big " + std::string(100, 'x'));
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_TRUE(host_->Invoke("reader", "erase colour").ok());
  EXPECT_TRUE(absl::IsNotFound(host_->Invoke("writer", "get colour").status()));
}

TEST_P(HostServicesTest, ModuleMetricsAppearWithTheFunctionLabel) {
  ASSERT_NO_FATAL_FAILURE(Register("counted", "builtin_probe", "", {"kv", "metrics"}));
  ASSERT_TRUE(host_->Invoke("counted", "count 3").ok());
  ASSERT_TRUE(host_->Invoke("counted", "count 4").ok());
  ASSERT_TRUE(host_->Invoke("counted", "depth 9").ok());
  ASSERT_TRUE(host_->Invoke("counted", "size 50").ok());
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_EQ(PrometheusValue(text, R"(fnhost_module_calls_total{function="counted"})"), "7");
  EXPECT_EQ(PrometheusValue(text, R"(fnhost_module_depth{function="counted"})"), "9");
  EXPECT_EQ(PrometheusValue(text, R"(fnhost_module_sizes_bucket{function="counted",le="100"})"),
            "1");
}

INSTANTIATE_TEST_SUITE_P(BothModes, HostServicesTest, testing::BothIsolationModes(),
                         testing::IsolationModeName);

}  // namespace
}  // namespace fnhost
