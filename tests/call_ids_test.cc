// Call ids: 16 lower-case hex digits, unique in the process across threads and across the
// blocks each thread takes.

#include "src/runtime/call_ids.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fnhost::internal {
namespace {

std::string NextId() {
  char id[kCallIdSize];
  NewCallId(id);
  return std::string(id, kCallIdSize);
}

bool IsLowerHex(const std::string& id) {
  return id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(CallIdsTest, AreHexAndCountUpWithinAThreadsBlock) {
  const std::string first = NextId();
  const std::string second = NextId();
  EXPECT_TRUE(IsLowerHex(first)) << first;
  EXPECT_EQ(std::stoull(second, nullptr, 16), std::stoull(first, nullptr, 16) + 1)
      << first << " then " << second;
}

TEST(CallIdsTest, StayUniqueAcrossThreadsAndBlocks) {
  constexpr int kThreads = 4;
  constexpr int kIdsPerThread = 5000;  // several blocks of 1024 each
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kIdsPerThread; ++i) ids[t].push_back(NextId());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> unique;
  for (const std::vector<std::string>& thread_ids : ids) {
    for (const std::string& id : thread_ids) {
      ASSERT_TRUE(IsLowerHex(id)) << id;
      unique.insert(id);
    }
  }
  EXPECT_EQ(unique.size(), size_t{kThreads} * kIdsPerThread);
}

}  // namespace
}  // namespace fnhost::internal
