// The recommender example's IVF index (examples/recommender/ivf_index.h) on its own: a query's
// work stays the same as the table grows, results agree with a brute-force scan, and every
// item finds itself.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "examples/recommender/ivf_index.h"
#include "examples/recommender/model_file.h"
#include "examples/recommender/params.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace recommender {
namespace {

using ::fnhost::testing::TempDir;

constexpr uint32_t kDim = 16;
constexpr uint32_t kClusterSize = 64;

// A generated model of `items` items around 64 topics, normalised, as the module's init reads it.
Model MakeModel(uint64_t items, const TempDir& dir) {
  Params params;
  params.items = items;
  params.dim = kDim;
  params.topics = 64;
  const std::string path = dir.File("model-" + std::to_string(items) + ".txt");
  Model model;
  EXPECT_TRUE(GenerateModelFile(params, path).ok());
  EXPECT_TRUE(ReadModelFile(path, kDim, &model).ok());
  NormalizeRows(model.vectors, kDim);
  return model;
}

// The index the module's init builds with cluster_size=kClusterSize.
IvfIndex Build(const Model& model, uint32_t coarse_nprobe = 4) {
  Params params;
  params.cluster_size = kClusterSize;
  Quantizer quantizer;
  IvfIndex index;
  EXPECT_TRUE(TrainQuantizer(model, kDim,
                             KMeansOptions{.clusters = ClustersFor(params, model.ids.size())},
                             &quantizer)
                  .ok());
  EXPECT_TRUE(GroupByCluster(model, kDim, std::move(quantizer), coarse_nprobe, &index).ok());
  EXPECT_TRUE(index.View().Validate().ok());
  return index;
}

// The exact top k by inner product, best first, ties to the smaller id.
std::vector<uint64_t> BruteForce(const Model& model, const float* query, uint32_t k) {
  std::vector<Hit> all;
  for (size_t i = 0; i < model.ids.size(); ++i) {
    all.push_back({model.ids[i], Dot(&model.vectors[i * kDim], query, kDim)});
  }
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const Hit& a, const Hit& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  });
  std::vector<uint64_t> ids;
  for (uint32_t i = 0; i < k; ++i) ids.push_back(all[i].id);
  return ids;
}

std::vector<uint64_t> Ids(const std::vector<Hit>& hits) {
  std::vector<uint64_t> ids;
  for (const Hit& hit : hits) ids.push_back(hit.id);
  return ids;
}

// Unit-length random vectors, not items of the model.
std::vector<std::vector<float>> RandomQueries(int count) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> queries(count, std::vector<float>(kDim));
  for (auto& query : queries) {
    for (float& x : query) x = normal(rng);
    NormalizeRows(query, kDim);
  }
  return queries;
}

struct Work {
  double vectors = 0;    // item vectors scored, per query
  double centroids = 0;  // centroids scored, per query
};

Work AverageWork(const IvfIndex& index, uint32_t nprobe) {
  SearchScratch scratch;
  std::vector<Hit> hits;
  Work work;
  const auto queries = RandomQueries(100);
  for (const auto& query : queries) {
    Search(index.View(), query.data(), 10, nprobe, &scratch, &hits);
    EXPECT_EQ(scratch.probed.size(), nprobe);
    work.vectors += static_cast<double>(scratch.vectors_scored) / queries.size();
    work.centroids += static_cast<double>(scratch.centroids_scored) / queries.size();
  }
  return work;
}

TEST(RecommenderIndexTest, ClustersKeepTheirSizeAsTheTableGrows) {
  TempDir dir;
  const IvfIndex small = Build(MakeModel(2048, dir));
  const IvfIndex large = Build(MakeModel(32768, dir));
  // Each coarse group gets clusters in proportion to its share, rounded.
  EXPECT_NEAR(small.View().clusters, 2048 / kClusterSize, 4);
  EXPECT_NEAR(large.View().clusters, 32768 / kClusterSize, 16);

  // 16x the items: each query scores about as many vectors, and the centroids it scores grow
  // with the square root of the clusters (coarse, then four groups), not with the clusters.
  const Work small_work = AverageWork(small, 8);
  const Work large_work = AverageWork(large, 8);
  EXPECT_GT(small_work.vectors, 4 * kClusterSize);
  EXPECT_LT(large_work.vectors, 1.5 * small_work.vectors);
  EXPECT_LT(large_work.vectors, 16 * kClusterSize);
  EXPECT_LT(large_work.centroids, large.View().clusters / 2.0);
}

TEST(RecommenderIndexTest, SearchAgreesWithBruteForce) {
  TempDir dir;
  const Model model = MakeModel(4096, dir);
  const IvfIndex index = Build(model);
  const IvfView view = index.View();
  SearchScratch scratch;
  std::vector<Hit> hits;
  const auto queries = RandomQueries(50);

  // Probing every group and every cluster is a brute-force scan, result for result.
  const IvfIndex everything = Build(model, /*coarse_nprobe=*/1000);
  for (const auto& query : queries) {
    Search(everything.View(), query.data(), 10, 1000, &scratch, &hits);
    EXPECT_EQ(Ids(hits), BruteForce(model, query.data(), 10));
    EXPECT_EQ(scratch.vectors_scored, model.ids.size());
  }

  // The default probes (8 of 64 clusters, 4 of 8 groups) find most of the true top 10.
  size_t found = 0;
  for (const auto& query : queries) {
    Search(view, query.data(), 10, 8, &scratch, &hits);
    const std::vector<uint64_t> truth = BruteForce(model, query.data(), 10);
    for (const Hit& hit : hits) found += std::count(truth.begin(), truth.end(), hit.id);
  }
  EXPECT_GE(static_cast<double>(found) / (10 * queries.size()), 0.8);
}

TEST(RecommenderIndexTest, EveryItemFindsItselfFirstThroughTheCoarseQuantizer) {
  TempDir dir;
  const Model model = MakeModel(8192, dir);
  const IvfIndex index = Build(model, /*coarse_nprobe=*/2);
  const IvfView view = index.View();
  ASSERT_GT(view.groups, 2u);  // so that searches skip groups
  SearchScratch scratch;
  std::vector<Hit> hits;
  for (size_t i = 0; i < model.ids.size(); ++i) {
    std::optional<uint64_t> position = view.Find(model.ids[i]);
    ASSERT_TRUE(position.has_value());
    Search(view, view.vector(*position), 1, 1, &scratch, &hits);
    ASSERT_EQ(hits.size(), 1u);
    ASSERT_EQ(hits[0].id, model.ids[i]) << "item " << i;
  }
}

TEST(RecommenderIndexTest, ValidateRejectsABadQuantizer) {
  TempDir dir;
  const IvfIndex index = Build(MakeModel(1024, dir));
  IvfView view = index.View();
  ASSERT_TRUE(view.Validate().ok());

  IvfView no_coarse = view;
  no_coarse.coarse = no_coarse.coarse.subspan(kDim);
  EXPECT_EQ(no_coarse.Validate().code(), fnhost::sdk::StatusCode::kDataLoss);

  // A group that owns no cluster would leave a search with nothing to probe.
  std::vector<uint32_t> empty_group(view.group_offsets.begin(), view.group_offsets.end());
  empty_group[1] = 0;
  IvfView bad_groups = view;
  bad_groups.group_offsets = empty_group;
  EXPECT_EQ(bad_groups.Validate().code(), fnhost::sdk::StatusCode::kDataLoss);

  IvfView no_probe = view;
  no_probe.coarse_nprobe = 0;
  EXPECT_EQ(no_probe.Validate().code(), fnhost::sdk::StatusCode::kDataLoss);

  IvfView short_fences = view;
  short_fences.id_fences = short_fences.id_fences.first(short_fences.id_fences.size() - 1);
  EXPECT_EQ(short_fences.Validate().code(), fnhost::sdk::StatusCode::kDataLoss);
}

TEST(RecommenderIndexTest, FindLooksUpIdsThroughTheFences) {
  TempDir dir;
  const Model model = MakeModel(1000, dir);  // ids 1000000..1000999, in 4 fenced blocks
  const IvfIndex index = Build(model);
  const IvfView view = index.View();
  ASSERT_EQ(view.id_fences.size(), (1000 + kIdsPerFence - 1) / kIdsPerFence);
  for (size_t i = 0; i < model.ids.size(); ++i) {
    std::optional<uint64_t> position = view.Find(model.ids[i]);
    ASSERT_TRUE(position.has_value()) << model.ids[i];
    EXPECT_EQ(view.ids[*position], model.ids[i]);
  }
  EXPECT_FALSE(view.Find(999999).has_value());
  EXPECT_FALSE(view.Find(1001000).has_value());
  EXPECT_FALSE(view.Find(0).has_value());
}

}  // namespace
}  // namespace recommender
