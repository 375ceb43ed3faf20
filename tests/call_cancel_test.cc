// The cancelled flag of a call's context, on both backends (the in-process one and process
// isolation, whose worker maps a page the host writes): CallRecord::Cancel, from another thread,
// ends a module that polls the flag, and a cancel never reaches the next call. Also the hostile
// side of host services under isolation: a worker that sends a malformed host-service frame is
// lost with a protocol error and replaced, and the host keeps serving.
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "fnhost/runtime.pb.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/file_system.h"
#include "src/isolation/process_backend.h"
#include "src/isolation/worker_protocol.h"
#include "src/runtime/call_record.h"
#include "src/runtime/in_process_backend.h"
#include "src/runtime/service_registry.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::PrometheusValue;
using ::fnhost::testing::TakeHost;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

class CallCancelTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    runtime::ModuleConfig config;
    config.set_function_name("probe");
    config.set_module_path(TestModule("context_probe"));
    const internal::BackendContext context{.clock = Clock::Real(),
                                           .fs = FileSystem::Default(),
                                           .services = &registry_};
    if (GetParam()) {
      backend_ = std::make_unique<internal::ProcessBackend>(
          config, IsolationOptions{}, SandboxOptions{}, "", context, internal::ModuleHints{});
    } else {
      backend_ = std::make_unique<internal::InProcessBackend>(config, context);
    }
    ColdStartEvent event;
    ASSERT_TRUE(backend_->Load(&event).ok());
    absl::StatusOr<internal::BackendInstance*> instance = backend_->NewInstance();
    ASSERT_TRUE(instance.ok()) << instance.status();
    instance_ = *instance;
  }
  void TearDown() override {
    if (instance_ != nullptr) backend_->Destroy(instance_);
    if (backend_ != nullptr) backend_->Unload();
  }

  // Runs `request` with `record`, whose call has a deadline a minute ahead.
  absl::Status Run(std::string_view request, internal::CallRecord& record, CallContext& context,
                   std::string* response) {
    absl::Status begun = record.Begin({.services = &backend_->services(),
                                       .context = &context,
                                       .clock = Clock::Real(),
                                       .deadline = Clock::Real()->Now() + absl::Minutes(1)});
    if (!begun.ok()) return begun;
    return backend_->Invoke(instance_, internal::Call{request, response, &record});
  }

  internal::ServiceRegistry registry_{1024};
  std::unique_ptr<internal::InstanceBackend> backend_;
  internal::BackendInstance* instance_ = nullptr;
};

TEST_P(CallCancelTest, CancelEndsAModuleThatPollsTheFlag) {
  internal::CallRecord record;
  CallContext context;
  std::string response;
  absl::Status status;
  std::thread call([&] { status = Run("spin", record, context, &response); });
  record.Cancel();  // before the module starts to poll, or while it does: both end the call
  call.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("spin: cancelled"));
  // The next call on the same instance starts with the flag down.
  internal::CallRecord next;
  EXPECT_TRUE(Run("cancelled", next, context, &response).ok());
  EXPECT_EQ(response, "no");
}

INSTANTIATE_TEST_SUITE_P(BothBackends, CallCancelTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Isolated" : "InProcess"; });

// A frame of `type` whose payload is `payload`, as a worker would write it on its channel.
std::string Frame(internal::FrameType type, int32_t code, std::string_view payload) {
  const internal::FrameHeader header{internal::kFrameMagic, type, 0, code,
                                     static_cast<uint32_t>(payload.size())};
  std::string frame(reinterpret_cast<const char*>(&header), sizeof(header));
  return frame.append(payload);
}

TEST(HostileHostServiceFrames, AMalformedFrameIsAProtocolErrorAndTheWorkerIsReplaced) {
  MetricsAggregator metrics;
  HostOptions options;
  options.metrics_sink = &metrics;
  std::unique_ptr<Host> host;
  ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host));
  FunctionSpec spec;
  spec.name = "hostile";
  spec.module_path = TestModule("garbage_ipc");
  spec.services = {"kv"};
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  ASSERT_TRUE(host->Register(spec).ok());
  ASSERT_THAT(host->Invoke("hostile", "hello"), IsOkAndHolds("hello"));
  const std::string too_short = Frame(internal::FrameType::kHostCall, 0, "abc");
  std::string long_method(12, '\0');  // service id 0, then a method of 65535 bytes
  const uint32_t method_size = 0xffff;
  std::memcpy(long_method.data() + 8, &method_size, sizeof(method_size));
  const std::string method_too_long =
      Frame(internal::FrameType::kHostCall, 0, long_method + "m");
  const std::string bad_level = Frame(internal::FrameType::kLog, 99, "a line");
  int lost = 0;
  for (const std::string& frame : {too_short, method_too_long, bad_level}) {
    absl::StatusOr<std::string> result = host->Invoke("hostile", "write:" + frame);
    EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("function 'hostile': worker "));
    EXPECT_THAT(result.status().message(), HasSubstr("broke the channel protocol"));
    ++lost;
    // A new worker serves the next call.
    EXPECT_THAT(host->Invoke("hostile", "again"), IsOkAndHolds("again"));
  }
  EXPECT_EQ(PrometheusValue(metrics.RenderPrometheus(),
                            R"(fnhost_worker_crashes_total{function="hostile",reason="protocol"})"),
            std::to_string(lost));
}

}  // namespace
}  // namespace fnhost
