// Tests of the example modules (examples/), driven through the raw C ABI by the test harness:
// their answers, their bad inputs, and the recommender's snapshot round trip.
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/abi_harness.h"
#include "tests/support/test_util.h"

namespace fnhost::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<AbiHarness> OpenExample(const std::string& name) {
  std::string error;
  std::unique_ptr<AbiHarness> harness =
      AbiHarness::Open(std::string(FNHOST_EXAMPLE_MODULE_DIR) + "/" + name + ".so", &error);
  EXPECT_NE(harness, nullptr) << error;
  return harness;
}

// A harness with a state built from `init_config` and one instance, or nullptr (after
// reporting a test failure).
std::unique_ptr<AbiHarness> OpenReady(const std::string& name, const std::string& init_config) {
  std::unique_ptr<AbiHarness> harness = OpenExample(name);
  if (harness == nullptr) return nullptr;
  AbiResult state = harness->CreateState(init_config);
  EXPECT_TRUE(state.ok()) << ::testing::PrintToString(state);
  if (!state.ok() || !harness->CreateInstance().ok()) return nullptr;
  return harness;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}


TEST(ExamplesTest, ExportOnlyTheEntryAndDescribeThemselves) {
  for (const char* name : {"hello", "recommender", "text_stats"}) {
    const std::string path = std::string(FNHOST_EXAMPLE_MODULE_DIR) + "/" + name + ".so";
    EXPECT_EQ(DefinedDynamicSymbols(path), std::set<std::string>{FNHOST_MODULE_ENTRY_SYMBOL})
        << name;
    auto harness = OpenExample(name);
    ASSERT_NE(harness, nullptr);
    EXPECT_STREQ(harness->table().name, name);
    EXPECT_EQ(harness->table().abi_version, FNHOST_ABI_VERSION);
  }
}

// ---- hello --------------------------------------------------------------------------------

TEST(HelloExampleTest, Greets) {
  auto harness = OpenReady("hello", "");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->Invoke("Alice").response, "Hello, Alice!");
  EXPECT_EQ(harness->Invoke("").response, "Hello, world!");
  EXPECT_GT(harness->table().max_concurrency_per_instance, 1u);
}

TEST(HelloExampleTest, GreetingComesFromInitConfig) {
  auto harness = OpenReady("hello", "Bonjour");
  ASSERT_NE(harness, nullptr);
  EXPECT_EQ(harness->Invoke("Bob").response, "Bonjour, Bob!");
}

// ---- recommender --------------------------------------------------------------------------

// Generated models number their items from this id up (examples/recommender/model_file.h).
constexpr uint64_t kFirstId = 1000000;

class RecommenderTest : public ::testing::Test {
 protected:
  std::string Config(int seed = 1) const {
    return "items=2000 dim=16 clusters=16 seed=" + std::to_string(seed) +
           " model=" + ModelPath(seed);
  }
  std::string ModelPath(int seed = 1) const {
    return dir_.File("model-" + std::to_string(seed) + ".txt");
  }
  static std::string Item(uint64_t index) { return std::to_string(kFirstId + index); }

  TempDir dir_;
};

// Parses "id score" lines.
std::vector<std::pair<std::string, double>> Parse(const std::string& response) {
  std::vector<std::pair<std::string, double>> hits;
  for (const std::string& line : Lines(response)) {
    size_t space = line.find(' ');
    hits.emplace_back(line.substr(0, space), std::stod(line.substr(space + 1)));
  }
  return hits;
}

TEST_F(RecommenderTest, GeneratesAMissingModelOnceAndLogsItsTimings) {
  auto first = OpenReady("recommender", Config());
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(std::filesystem::exists(ModelPath()));
  EXPECT_EQ(Lines(ReadFileBytes(ModelPath())).size(), 2000u);
  std::string logs;
  for (const LogLine& line : first->logs()) logs += line.message + "\n";
  EXPECT_THAT(logs, HasSubstr("generated model " + ModelPath()));
  EXPECT_THAT(logs, HasSubstr("init of 2000 items x 16 took"));

  auto second = OpenReady("recommender", Config());
  ASSERT_NE(second, nullptr);
  for (const LogLine& line : second->logs()) {
    EXPECT_THAT(line.message, ::testing::Not(HasSubstr("generated"))) << "regenerated";
  }
  EXPECT_EQ(first->Invoke("item=" + Item(7)).response, second->Invoke("item=" + Item(7)).response);
}

TEST_F(RecommenderTest, AnItemIsMostSimilarToItself) {
  auto harness = OpenReady("recommender", Config());
  ASSERT_NE(harness, nullptr);
  for (uint64_t index : {0, 1, 500, 1234, 1999}) {
    AbiResult result = harness->Invoke("item=" + Item(index) + " k=5");
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result);
    auto hits = Parse(result.response);
    ASSERT_EQ(hits.size(), 5u) << result.response;
    EXPECT_EQ(hits[0].first, Item(index));
    EXPECT_NEAR(hits[0].second, 1.0, 1e-5);
    for (size_t i = 1; i < hits.size(); ++i) {
      EXPECT_LE(hits[i].second, hits[i - 1].second) << result.response;
      EXPECT_NE(hits[i].first, Item(index));
    }
  }
}

TEST_F(RecommenderTest, RestoredStateAnswersLikeTheCreatedOne) {
  auto created = OpenReady("recommender", Config());
  ASSERT_NE(created, nullptr);
  Sections sections;
  AbiResult snapshot = created->Snapshot(&sections);
  ASSERT_TRUE(snapshot.ok()) << ::testing::PrintToString(snapshot);
  EXPECT_EQ(sections["vectors"].size(), 2000u * 16 * sizeof(float));

  auto restored = OpenExample("recommender");
  ASSERT_NE(restored, nullptr);
  AbiResult restore = restored->Restore(sections, Config());
  ASSERT_TRUE(restore.ok()) << ::testing::PrintToString(restore);
  ASSERT_TRUE(restored->CreateInstance().ok());
  for (const std::string& query :
       {"item=" + Item(0), "item=" + Item(42) + " k=20", "item=" + Item(1999) + " nprobe=16",
        "item=" + Item(777) + " k=3 nprobe=1",
        std::string("vector=1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-1 k=7")}) {
    AbiResult expected = created->Invoke(query);
    ASSERT_TRUE(expected.ok()) << query << ": " << ::testing::PrintToString(expected);
    EXPECT_EQ(restored->Invoke(query).response, expected.response) << query;
  }
  EXPECT_EQ(created->Invoke("stats").response,
            "items=2000 dim=16 clusters=16 nprobe=8 origin=init reseeded=0");
  EXPECT_EQ(restored->Invoke("stats").response,
            "items=2000 dim=16 clusters=16 nprobe=8 origin=restore reseeded=0");
  ASSERT_TRUE(restored->AfterRestore().ok());
  EXPECT_EQ(restored->Invoke("stats").response,
            "items=2000 dim=16 clusters=16 nprobe=8 origin=restore reseeded=1");
}

TEST_F(RecommenderTest, RestoreRejectsMissingAndInconsistentSections) {
  auto created = OpenReady("recommender", Config());
  ASSERT_NE(created, nullptr);
  Sections sections;
  ASSERT_TRUE(created->Snapshot(&sections).ok());
  auto restored = OpenExample("recommender");
  ASSERT_NE(restored, nullptr);

  Sections missing = sections;
  missing.erase("by_id");
  EXPECT_EQ(restored->Restore(missing).code, FNHOST_STATUS_NOT_FOUND);

  Sections short_vectors = sections;
  short_vectors["vectors"].resize(short_vectors["vectors"].size() - 16 * sizeof(float));
  AbiResult result = restored->Restore(short_vectors);
  EXPECT_EQ(result.code, FNHOST_STATUS_DATA_LOSS);
  EXPECT_THAT(result.message, HasSubstr("vectors"));

  Sections bad_offsets = sections;
  uint64_t too_far = 5000;
  bad_offsets["offsets"].replace(8, sizeof(too_far), reinterpret_cast<char*>(&too_far),
                                 sizeof(too_far));
  EXPECT_EQ(restored->Restore(bad_offsets).code, FNHOST_STATUS_DATA_LOSS);

  Sections bad_params = sections;
  bad_params["params"].pop_back();
  EXPECT_EQ(restored->Restore(bad_params).code, FNHOST_STATUS_DATA_LOSS);
}

TEST_F(RecommenderTest, ADifferentSeedGivesADifferentModel) {
  auto one = OpenReady("recommender", Config(1));
  auto two = OpenReady("recommender", Config(2));
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  EXPECT_NE(ReadFileBytes(ModelPath(1)), ReadFileBytes(ModelPath(2)));
  EXPECT_NE(one->Invoke("item=" + Item(3)).response, two->Invoke("item=" + Item(3)).response);
}

TEST_F(RecommenderTest, ParsesAHandWrittenModel) {
  ASSERT_TRUE(WriteFileBytes(dir_.File("tiny.txt"),
                             "# id x y\n"
                             "1 1 0\n"
                             "2 0.9 0.1\n"
                             "\n"
                             "3 0 1\n"
                             "4 -2 0\n"));
  auto harness = OpenReady("recommender", "dim=2 clusters=2 model=" + dir_.File("tiny.txt"));
  ASSERT_NE(harness, nullptr);
  // (0.9, 0.1) normalised has x = 0.9 / sqrt(0.82) = 0.993884.
  EXPECT_EQ(harness->Invoke("item=1 k=2 nprobe=2").response, "1 1.000000\n2 0.993884\n");
  EXPECT_EQ(harness->Invoke("vector=0,5 k=1 nprobe=2").response, "3 1.000000\n");
  EXPECT_EQ(harness->Invoke("item=4 k=1 nprobe=2").response, "4 1.000000\n");
}

TEST_F(RecommenderTest, ExplorationAddsDistinctItemsAfterTheTopK) {
  auto harness = OpenReady("recommender", Config());
  ASSERT_NE(harness, nullptr);
  const std::string top = harness->Invoke("item=" + Item(10) + " k=3").response;
  AbiResult explored = harness->Invoke("item=" + Item(10) + " k=3 explore=4");
  ASSERT_TRUE(explored.ok()) << ::testing::PrintToString(explored);
  std::vector<std::string> lines = Lines(explored.response);
  ASSERT_EQ(lines.size(), 7u) << explored.response;
  EXPECT_EQ(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n", top);
  std::set<std::string> ids;
  for (const auto& [id, score] : Parse(explored.response)) ids.insert(id);
  EXPECT_EQ(ids.size(), 7u) << explored.response;
}

TEST_F(RecommenderTest, BadRequestsAreInvalidArguments) {
  auto harness = OpenReady("recommender", Config());
  ASSERT_NE(harness, nullptr);
  const std::string item = "item=" + Item(1);
  for (const std::string& request :
       {std::string(""), std::string("item"), std::string("item=abc"), std::string("k=3"),
        item + " k=0", item + " k=1001", item + " k=-1", item + " nprobe=0",
        item + " explore=101", item + " color=blue", item + " vector=" + std::string(15, '1'),
        std::string("vector=1,2,3"), std::string("vector=1,,2"), std::string("=5")}) {
    AbiResult result = harness->Invoke(request);
    EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT)
        << "'" << request << "': " << ::testing::PrintToString(result);
    EXPECT_THAT(result.message, HasSubstr("recommender")) << request;
  }
  AbiResult unknown = harness->Invoke("item=42");
  EXPECT_EQ(unknown.code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(unknown.message, "recommender: no item 42");
}

TEST_F(RecommenderTest, BadInitConfigsAreRefused) {
  auto harness = OpenExample("recommender");
  ASSERT_NE(harness, nullptr);
  const std::string model = " model=" + ModelPath();
  for (const std::string& config :
       {"dim=0" + model, "dim=abc" + model, "color=blue" + model, "items" + model,
        "items=10 clusters=20" + model, "clusters=0" + model, "nprobe=0" + model}) {
    EXPECT_EQ(harness->CreateState(config).code, FNHOST_STATUS_INVALID_ARGUMENT) << config;
  }
  EXPECT_FALSE(std::filesystem::exists(ModelPath())) << "a refused config generated a model";
}

TEST_F(RecommenderTest, BadModelFilesAreRefused) {
  auto harness = OpenExample("recommender");
  ASSERT_NE(harness, nullptr);
  const std::string model = dir_.File("bad.txt");
  const std::string config = "dim=2 clusters=1 model=" + model;

  ASSERT_TRUE(WriteFileBytes(model, "1 1 0\n2 1 0 7\n"));
  AbiResult result = harness->CreateState(config);
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(result.message, HasSubstr("bad.txt:2: has 3 values, expected dim=2"));

  ASSERT_TRUE(WriteFileBytes(model, "1 1 0\nx 1 0\n"));
  result = harness->CreateState(config);
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(result.message, HasSubstr("bad.txt:2: expected an item id"));

  ASSERT_TRUE(WriteFileBytes(model, "1 1 0\n2 1 nan\n"));
  EXPECT_EQ(harness->CreateState(config).code, FNHOST_STATUS_INVALID_ARGUMENT);

  ASSERT_TRUE(WriteFileBytes(model, "1 1 0\n1 0 1\n"));
  result = harness->CreateState(config);
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(result.message, HasSubstr("item id 1 appears twice"));

  ASSERT_TRUE(WriteFileBytes(model, ""));
  result = harness->CreateState(config);
  EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(result.message, HasSubstr("0 items, fewer than clusters=1"));

  // A directory is not a missing file: no generation, an error.
  result = harness->CreateState("dim=2 clusters=1 model=" + dir_.path());
  EXPECT_EQ(result.code, FNHOST_STATUS_FAILED_PRECONDITION);
  // Nor is a model in a directory that does not exist: generating it fails.
  result = harness->CreateState("items=4 dim=2 clusters=1 model=" + dir_.File("no/model.txt"));
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.message, HasSubstr("cannot create"));
}

TEST_F(RecommenderTest, ConcurrentInstancesShareTheState) {
  auto harness = OpenReady("recommender", Config());
  ASSERT_NE(harness, nullptr);
  constexpr int kThreads = 4;
  for (int i = 1; i < kThreads; ++i) ASSERT_TRUE(harness->CreateInstance().ok());
  const std::string expected = harness->Invoke("item=" + Item(99) + " k=10").response;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (harness->Invoke("item=" + Item(99) + " k=10", t).response != expected) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

// ---- text_stats ---------------------------------------------------------------------------

TEST(TextStatsExampleTest, CountsWordsSentencesAndTopTerms) {
  auto harness = OpenReady("text_stats", "");
  ASSERT_NE(harness, nullptr);
  const std::string text = "The quick brown fox jumps over the lazy dog. The dog sleeps!";
  AbiResult result = harness->Invoke(text);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result);
  // 12 words of 47 letters; "the" and "over" are stopwords; ties go alphabetically.
  EXPECT_EQ(result.response,
            "{\"bytes\":" + std::to_string(text.size()) +
                ",\"words\":12,\"unique_words\":9,\"sentences\":2,"
                "\"average_word_length\":3.92,\"reading_time_s\":3.03,\"top\":["
                "{\"word\":\"dog\",\"count\":2},{\"word\":\"brown\",\"count\":1},"
                "{\"word\":\"fox\",\"count\":1},{\"word\":\"jumps\",\"count\":1},"
                "{\"word\":\"lazy\",\"count\":1}]}");
}

TEST(TextStatsExampleTest, HandlesUtf8ApostrophesAndEmptyText) {
  auto harness = OpenReady("text_stats", "top=3 stopwords=none");
  ASSERT_NE(harness, nullptr);
  EXPECT_THAT(harness->Invoke("Naïve café, NAÏVE").response,
              HasSubstr("\"words\":3,\"unique_words\":3,\"sentences\":1,"
                        "\"average_word_length\":4.67"))
      << "only ASCII letters are lower-cased";
  EXPECT_THAT(harness->Invoke("Don't stop. 'Quoted' dogs' bones? Yes").response,
              HasSubstr("\"words\":6,\"unique_words\":6,\"sentences\":3,"));
  EXPECT_THAT(harness->Invoke("don't don't dogs' dogs").response,
              HasSubstr("\"top\":[{\"word\":\"dogs\",\"count\":2},"
                        "{\"word\":\"don't\",\"count\":2}]"));
  EXPECT_EQ(harness->Invoke("").response,
            "{\"bytes\":0,\"words\":0,\"unique_words\":0,\"sentences\":0,"
            "\"average_word_length\":0.00,\"reading_time_s\":0.00,\"top\":[]}");
  EXPECT_THAT(harness->Invoke("... !!! ???").response, HasSubstr("\"sentences\":0"));
}

TEST(TextStatsExampleTest, StopwordsFromAFile) {
  TempDir dir;
  ASSERT_TRUE(WriteFileBytes(dir.File("stop.txt"), "# mine\nFox\n  dog \n"));
  auto harness = OpenReady("text_stats", "top=2 stopwords=" + dir.File("stop.txt"));
  ASSERT_NE(harness, nullptr);
  EXPECT_THAT(harness->Invoke("the fox and the dog").response,
              HasSubstr("\"top\":[{\"word\":\"the\",\"count\":2},"
                        "{\"word\":\"and\",\"count\":1}]"));
}

TEST(TextStatsExampleTest, RejectsInvalidUtf8AndOversizedRequests) {
  auto harness = OpenReady("text_stats", "max_bytes=16");
  ASSERT_NE(harness, nullptr);
  for (const auto& [request, offset] : std::vector<std::pair<std::string, int>>{
           {"abc\xff", 3},            // never valid in UTF-8
           {"ab\xC0\xAF", 2},         // overlong '/'
           {"\xED\xA0\x80", 0},       // a surrogate
           {"x\xF4\x90\x80\x80", 1},  // above U+10FFFF
           {"abc\xE2\x82", 3},        // truncated euro sign
           {"\x80", 0}}) {            // a lone continuation byte
    AbiResult result = harness->Invoke(request);
    EXPECT_EQ(result.code, FNHOST_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(result.message,
              "text_stats: request is not valid UTF-8 at byte " + std::to_string(offset));
  }
  EXPECT_TRUE(harness->Invoke("€ 𝄞 ok").ok());
  AbiResult big = harness->Invoke(std::string(17, 'a'));
  EXPECT_EQ(big.code, FNHOST_STATUS_INVALID_ARGUMENT);
  EXPECT_THAT(big.message, HasSubstr("more than max_bytes=16"));
}

TEST(TextStatsExampleTest, BadInitConfigsAreRefused) {
  auto harness = OpenExample("text_stats");
  ASSERT_NE(harness, nullptr);
  for (const char* config : {"top=101", "top=x", "wpm=0", "colour=red", "top", "max_bytes=-1"}) {
    EXPECT_EQ(harness->CreateState(config).code, FNHOST_STATUS_INVALID_ARGUMENT) << config;
  }
  AbiResult missing = harness->CreateState("stopwords=/nonexistent/stopwords.txt");
  EXPECT_EQ(missing.code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_THAT(missing.message, HasSubstr("/nonexistent/stopwords.txt"));
}

TEST(TextStatsExampleTest, OneInstanceServesConcurrentCalls) {
  auto harness = OpenReady("text_stats", "");
  ASSERT_NE(harness, nullptr);
  const uint32_t threads_count = harness->table().max_concurrency_per_instance;
  ASSERT_GT(threads_count, 1u);
  const std::string text = "To be, or not to be, that is the question.";
  const std::string expected = harness->Invoke(text).response;
  std::vector<int> mismatches(threads_count, 0);
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (harness->Invoke(text).response != expected) ++mismatches[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

}  // namespace
}  // namespace fnhost::testing
