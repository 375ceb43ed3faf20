// Asynchronous calls (Host::InvokeAsync) with a call context, in both isolation modes: the
// context travels both ways, the module's log lines and host-service calls are answered while
// the call is in flight (under process isolation, by the poller that completes it), and
// cancelling a running call, by token or by deadline, sets the cancelled flag the module polls.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fnhost/call_context.h"
#include "fnhost/cancellation.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/log_sink.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/async_util.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::Completions;
using ::fnhost::testing::TakeHost;
using ::fnhost::testing::TestModule;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

class LoggedCallIds : public LogSink {
 public:
  void Log(const LogRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.emplace_back(record.call_id);
  }
  std::vector<std::string> ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ids_;
};

class AsyncContextTest : public ::testing::TestWithParam<IsolationOptions::Mode> {
 protected:
  void SetUp() override {
    HostOptions options;
    options.clock = &clock_;
    options.log_sink = &logs_;
    ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host_));
    ServiceSpec echo;
    echo.name = "echo";
    echo.bytes = [](const ServiceCall& call, std::string* response) {
      *response = std::string(call.method) + ":" + std::string(call.request);
      return absl::OkStatus();
    };
    ASSERT_TRUE(host_->RegisterService(echo).ok());
    FunctionSpec spec;
    spec.name = "probe";
    spec.module_path = TestModule("context_probe");
    spec.init_config = "echo";
    spec.services = {"echo"};
    spec.isolation.mode = GetParam();
    ASSERT_TRUE(host_->Register(spec).ok());
    absl::StatusOr<FunctionHandle> handle = host_->Lookup("probe");
    ASSERT_TRUE(handle.ok()) << handle.status();
    handle_ = *handle;
    // Warm: the calls below find an instance.
    ASSERT_TRUE(host_->Invoke("probe", "id").ok());
  }

  // Starts `request` asynchronously, never inline, its completion under `name`.
  void Start(const std::string& name, const std::string& request, CallOptions options) {
    options.allow_inline = false;
    requests_.push_back(std::make_unique<std::string>(request));
    responses_.push_back(std::make_unique<std::string>());
    host_->InvokeAsync(handle_, *requests_.back(), responses_.back().get(),
                       done_.Callback(name), options);
  }
  const std::string& last_response() const { return *responses_.back(); }

  ::testing::AssertionResult AwaitBusy(int busy) {
    return testing::AwaitStatus(
        *host_, "probe", [busy](const FunctionStatus& s) { return s.busy_instances == busy; });
  }

  FakeClock clock_;
  LoggedCallIds logs_;
  Completions done_;  // outlives the host: completions may still come while it drains
  std::vector<std::unique_ptr<std::string>> requests_;
  std::vector<std::unique_ptr<std::string>> responses_;
  std::unique_ptr<Host> host_;
  FunctionHandle handle_;
};

TEST_P(AsyncContextTest, TheContextTravelsBothWays) {
  const Metadata metadata[] = {{"user", "42"}};
  CallContext context;
  context.metadata = metadata;
  CallOptions options;
  options.context = &context;
  Start("meta", "meta user", options);
  ASSERT_TRUE(done_.Await("meta"));
  ASSERT_TRUE(done_.status("meta").ok()) << done_.status("meta");
  EXPECT_EQ(last_response(), "42");

  Start("set", "set Cache hit", options);
  ASSERT_TRUE(done_.Await("set"));
  ASSERT_TRUE(done_.status("set").ok()) << done_.status("set");
  EXPECT_THAT(context.response_metadata, ElementsAre(Pair("cache", "hit")));
  EXPECT_EQ(context.call_id().size(), 16u);
}

TEST_P(AsyncContextTest, LogLinesAndHostCallsAreAnsweredWhileTheCallIsInFlight) {
  CallContext context;
  CallOptions options;
  options.context = &context;
  Start("host", "host upper abc", options);
  ASSERT_TRUE(done_.Await("host"));
  ASSERT_TRUE(done_.status("host").ok()) << done_.status("host");
  EXPECT_EQ(last_response(), "upper:abc");

  Start("log", "log from an async call", options);
  ASSERT_TRUE(done_.Await("log"));
  ASSERT_TRUE(done_.status("log").ok()) << done_.status("log");
  EXPECT_THAT(logs_.ids(), ElementsAre(std::string(context.call_id())));
}

TEST_P(AsyncContextTest, CancellingARunningCallSetsTheModulesFlag) {
  CancellationToken token;
  CallOptions options;
  options.cancellation = &token;
  options.deadline = clock_.Now() + absl::Hours(1);  // spin needs one; the clock stays put
  Start("spin", "spin", options);
  ASSERT_TRUE(AwaitBusy(1));
  token.Cancel();
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kCancelled);
  if (GetParam() == IsolationOptions::Mode::kInProcess) {
    // The call ran to its end: the module saw the flag and said so.
    EXPECT_THAT(done_.status("spin").message(), HasSubstr("spin: cancelled"));
  }
  // The worker (or instance) ends the spin on its own, and the flag does not reach the next
  // call.
  ASSERT_TRUE(AwaitBusy(0));
  Start("next", "cancelled", CallOptions());
  ASSERT_TRUE(done_.Await("next"));
  ASSERT_TRUE(done_.status("next").ok()) << done_.status("next");
  EXPECT_EQ(last_response(), "no");
}

TEST_P(AsyncContextTest, ADeadlinePassingDuringTheCallSetsTheModulesFlag) {
  CallOptions options;
  options.deadline = clock_.Now() + absl::Seconds(10);
  Start("spin", "spin", options);
  ASSERT_TRUE(AwaitBusy(1));
  // The module measures its deadline on the real clock (ten seconds from the call's start);
  // the host's timer, on the fake clock, sets the flag long before.
  clock_.Advance(absl::Seconds(11));
  ASSERT_TRUE(done_.Await("spin"));
  EXPECT_EQ(done_.status("spin").code(), absl::StatusCode::kDeadlineExceeded);
  if (GetParam() == IsolationOptions::Mode::kInProcess) {
    EXPECT_THAT(done_.status("spin").message(), HasSubstr("spin: cancelled"));
  }
  ASSERT_TRUE(AwaitBusy(0));
}

INSTANTIATE_TEST_SUITE_P(BothModes, AsyncContextTest, testing::BothIsolationModes(),
                         testing::IsolationModeName);

}  // namespace
}  // namespace fnhost
