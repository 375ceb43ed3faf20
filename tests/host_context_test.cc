// The call context through the Host, in both isolation modes (the same tests, parameterised):
// request metadata in, response metadata out, the call id, the deadline, W3C trace context,
// log lines tagged with the call, and spans with the cold start's phases. (A module built for
// ABI 1, which gets no context, is run by abi_compat_test and cli_test.)
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fnhost/call_context.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"
#include "fnhost/log_sink.h"
#include "fnhost/metrics.h"
#include "fnhost/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using ::fnhost::testing::IsOkAndHolds;
using ::fnhost::testing::TakeHost;
using ::fnhost::testing::TestModule;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr char kParent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

struct Line {
  std::string function, module_version, call_id, message;
  LogLevel level;
};

class RecordingLogs : public LogSink {
 public:
  void Log(const LogRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back({std::string(record.function), std::string(record.module_version),
                      std::string(record.call_id), std::string(record.message), record.level});
  }
  std::vector<Line> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<Line> lines_;
};

struct Span {
  std::string name, trace_id, span_id, parent_span_id, invocation_id, trigger, version;
  bool coldstart;
};

// Keeps every span (the aggregator records none).
class SpanSink : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent&) override {}
  void OnInvocation(const InvocationEvent&) override {}
  bool WantsSpans() const override { return true; }
  void OnSpan(const SpanEvent& span) override {
    std::lock_guard<std::mutex> lock(mu_);
    spans_.push_back({std::string(span.name), std::string(span.trace_id),
                      std::string(span.span_id), std::string(span.parent_span_id),
                      std::string(span.invocation_id), std::string(span.trigger),
                      std::string(span.module_version), span.coldstart});
  }
  std::vector<Span> TakeSpans() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(spans_);
  }

 private:
  std::mutex mu_;
  std::vector<Span> spans_;
};

class HostContextTest : public ::testing::TestWithParam<IsolationOptions::Mode> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(MakeHost(nullptr, &clock_)); }

  void MakeHost(MetricsSink* sink, Clock* clock) {
    host_.reset();
    HostOptions options;
    options.clock = clock;
    options.metrics_sink = sink;
    options.log_sink = &logs_;
    ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host_));
    FunctionSpec spec;
    spec.name = "probe";
    spec.module_path = TestModule("context_probe");
    spec.isolation.mode = GetParam();
    ASSERT_TRUE(host_->Register(spec).ok());
  }

  // Calls the probe with `request` and `context`; the response, or the error.
  absl::StatusOr<std::string> Call(std::string_view request, CallContext* context,
                                   absl::Time deadline = absl::InfiniteFuture()) {
    CallOptions options;
    options.context = context;
    options.deadline = deadline;
    return host_->Invoke("probe", request, options);
  }

  FakeClock clock_;
  RecordingLogs logs_;
  SpanSink spans_;  // before host_: the host reports to it until it is destroyed
  std::unique_ptr<Host> host_;
};

TEST_P(HostContextTest, RequestMetadataReachesTheModuleInOrder) {
  const Metadata metadata[] = {{"user", "42"}, {"region", "eu-west"}, {"user", "43"}};
  CallContext context;
  context.metadata = metadata;
  EXPECT_THAT(Call("meta user", &context), IsOkAndHolds("42"));
  EXPECT_THAT(Call("meta REGION", &context), IsOkAndHolds("eu-west"));
  EXPECT_THAT(Call("meta absent", &context), IsOkAndHolds("(absent)"));
  EXPECT_THAT(Call("list", &context), IsOkAndHolds("user=42;region=eu-west;user=43"));
  // Without a context the module sees none.
  EXPECT_THAT(Call("list", nullptr), IsOkAndHolds(""));
}

TEST_P(HostContextTest, UpperCaseMetadataKeysAreRefusedBeforeTheCall) {
  const Metadata metadata[] = {{"User", "42"}};
  CallContext context;
  context.metadata = metadata;
  absl::StatusOr<std::string> result = Call("meta user", &context);
  EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("function 'probe'"));
  EXPECT_THAT(result.status().message(), HasSubstr("'User'"));
}

TEST_P(HostContextTest, ResponseMetadataComesBackLowerCased) {
  CallContext context;
  ASSERT_THAT(Call("set Cache hit", &context), IsOkAndHolds("set"));
  EXPECT_THAT(context.response_metadata, ElementsAre(Pair("cache", "hit")));
  // Cleared by the next call; a bad key is the module's refusal.
  absl::StatusOr<std::string> bad = Call("set bad/key x", &context);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_THAT(context.response_metadata, IsEmpty());
}

TEST_P(HostContextTest, EachCallHasItsOwnIdWhichTheModuleSees) {
  CallContext context;
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::string> id = Call("id", &context);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, context.call_id());
    EXPECT_THAT(*id, MatchesRegex("[0-9a-f]{16}"));
    ids.insert(*id);
  }
  EXPECT_THAT(ids, SizeIs(5));
}

TEST_P(HostContextTest, TheModuleSeesTheCallersDeadline) {
  CallContext context;
  EXPECT_THAT(Call("deadline", &context), IsOkAndHolds("none"));
  EXPECT_THAT(Call("deadline", &context, clock_.Now() + absl::Hours(1)), IsOkAndHolds("ahead"));
  EXPECT_THAT(Call("deadline", nullptr, clock_.Now() + absl::Hours(1)), IsOkAndHolds("ahead"));
  // A call whose deadline passed before it started does not run.
  EXPECT_EQ(Call("deadline", &context, clock_.Now() - absl::Seconds(1)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_P(HostContextTest, TheCallIsAChildSpanOfTheCallersTrace) {
  CallContext context;
  context.traceparent = kParent;
  context.tracestate = "vendor=1";
  absl::StatusOr<std::string> seen = Call("trace", &context);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_THAT(*seen,
              MatchesRegex("00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01\\|vendor=1"));
  EXPECT_EQ(seen->substr(0, 55), context.span_traceparent());
  EXPECT_NE(context.span_traceparent().substr(36, 16), "b7ad6b7169203331");  // a new span
  // A malformed traceparent is ignored, as W3C says; without spans recorded there is none.
  context.traceparent = "00-xyz";
  EXPECT_THAT(Call("trace", &context), IsOkAndHolds("|"));
  EXPECT_EQ(context.span_traceparent(), "");
}

TEST_P(HostContextTest, LogLinesCarryTheFunctionTheVersionAndTheCall) {
  CallContext context;
  ASSERT_THAT(Call("log hello there", &context), IsOkAndHolds("logged"));
  std::vector<Line> lines = logs_.lines();
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(lines[0].function, "probe");
  EXPECT_EQ(lines[0].module_version, "2.1.0");
  EXPECT_EQ(lines[0].call_id, context.call_id());
  EXPECT_EQ(lines[0].message, "hello there");
  EXPECT_EQ(lines[0].level, LogLevel::kInfo);
}

TEST_P(HostContextTest, SpansCarryTheFaasAttributesAndTheColdStartPhases) {
  // The real clock: the phases' durations are measured.
  ASSERT_NO_FATAL_FAILURE(MakeHost(&spans_, nullptr));
  SpanSink& spans = spans_;
  CallContext context;
  context.traceparent = kParent;
  context.trigger = "http";
  ASSERT_TRUE(Call("id", &context).ok());
  std::vector<Span> cold = spans.TakeSpans();
  ASSERT_GE(cold.size(), 3u);  // the call, and at least dlopen and the instance's creation
  const Span& call = cold[0];
  EXPECT_EQ(call.name, "invoke probe");
  EXPECT_EQ(call.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(call.parent_span_id, "b7ad6b7169203331");
  EXPECT_EQ(call.span_id, context.span_traceparent().substr(36, 16));
  EXPECT_EQ(call.invocation_id, context.call_id());
  EXPECT_EQ(call.trigger, "http");
  EXPECT_EQ(call.version, "2.1.0");
  EXPECT_TRUE(call.coldstart);
  std::set<std::string> phases;
  for (size_t i = 1; i < cold.size(); ++i) {
    EXPECT_EQ(cold[i].trace_id, call.trace_id);
    EXPECT_EQ(cold[i].parent_span_id, call.span_id);
    phases.insert(cold[i].name);
  }
  EXPECT_TRUE(phases.count("coldstart dlopen")) << "phases seen: " << phases.size();
  // A warm call without a caller's trace starts one of its own: one span, no phases.
  ASSERT_TRUE(Call("id", nullptr).ok());
  std::vector<Span> warm = spans.TakeSpans();
  ASSERT_THAT(warm, SizeIs(1));
  EXPECT_FALSE(warm[0].coldstart);
  EXPECT_THAT(warm[0].trace_id, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(warm[0].parent_span_id, "");
  EXPECT_EQ(warm[0].trigger, "other");
}

INSTANTIATE_TEST_SUITE_P(BothModes, HostContextTest, testing::BothIsolationModes(),
                         testing::IsolationModeName);

}  // namespace
}  // namespace fnhost
