// `fnhost serve`'s mapping between HTTP headers and a call's context (src/cli/http_call_context.h).
#include "src/cli/http_call_context.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnhost::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::vector<std::pair<std::string, std::string>> MetadataOf(const CallContext& context) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Metadata& pair : context.metadata) {
    out.emplace_back(std::string(pair.key()), std::string(pair.value()));
  }
  return out;
}

TEST(HttpCallContextTest, PrefixedHeadersBecomeLowerCaseMetadataInOrder) {
  const HttpCallContext::Headers headers = {
      {"Host", "example"},        {"X-Fn-User", "42"},     {"x-fn-", "no key"},
      {"X-FN-Region", "eu-west"}, {"x-fnx-other", "nope"}, {"x-fn-user", "43"}};
  HttpCallContext call("x-fn-", headers);
  EXPECT_THAT(MetadataOf(*call.context()),
              ElementsAre(Pair("user", "42"), Pair("region", "eu-west"), Pair("user", "43")));
  EXPECT_EQ(call.context()->trigger, "http");
}

TEST(HttpCallContextTest, ManyShortKeysStayValid) {
  // Short keys live inside their strings: a vector that reallocated would move them.
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("x-fn-k" + std::to_string(i));
  HttpCallContext::Headers headers;
  for (const std::string& name : names) headers.emplace_back(name, "v");
  HttpCallContext call("X-Fn-", headers);
  ASSERT_EQ(call.context()->metadata.size(), 40u);
  EXPECT_EQ(call.context()->metadata[0].key(), "k0");
  EXPECT_EQ(call.context()->metadata[39].key(), "k39");
}

TEST(HttpCallContextTest, TraceContextComesInFromItsOwnHeaders) {
  const HttpCallContext::Headers headers = {
      {"TraceParent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
      {"tracestate", "vendor=1"}};
  HttpCallContext call("x-fn-", headers);
  EXPECT_EQ(call.context()->traceparent,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(call.context()->tracestate, "vendor=1");
  EXPECT_TRUE(call.context()->metadata.empty());
}

TEST(HttpCallContextTest, ResponseMetadataGoesOutUnderThePrefixWithoutLineBreaks) {
  HttpCallContext call("X-Fn-", {});
  call.context()->response_metadata = {
      {"cache", "hit"}, {"split", "a\r\nSet-Cookie: x=1"}, {"tab", "a\tb"}, {"nul", {"a\0b", 3}}};
  std::vector<std::pair<std::string, std::string>> headers;
  call.AppendResponseHeaders(&headers);
  EXPECT_THAT(headers, ElementsAre(Pair("x-fn-cache", "hit"), Pair("x-fn-tab", "a\tb")));
}

}  // namespace
}  // namespace fnhost::cli
