// IVF index building (k-means, grouping) and search. See ivf_index.h.
#include "examples/recommender/ivf_index.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace recommender {
namespace {

using fnhost::sdk::Status;

uint32_t Nearest(const std::vector<float>& centroids, uint32_t clusters, const float* v,
                 uint32_t dim) {
  uint32_t best = 0;
  float best_score = -INFINITY;
  for (uint32_t c = 0; c < clusters; ++c) {
    float score = Dot(&centroids[size_t{c} * dim], v, dim);
    if (score > best_score) {
      best_score = score;
      best = c;
    }
  }
  return best;
}

Status DataLoss(const std::string& what) {
  return Status(fnhost::sdk::StatusCode::kDataLoss, "recommender: snapshot " + what);
}

}  // namespace

std::optional<uint64_t> IvfView::Find(uint64_t id) const {
  // The block whose first id is the last one <= id (Validate checked the fences' count).
  auto fence = std::upper_bound(id_fences.begin(), id_fences.end(), id);
  if (fence == id_fences.begin()) return std::nullopt;
  const size_t first = static_cast<size_t>(fence - id_fences.begin() - 1) * kIdsPerFence;
  const auto block = by_id.subspan(first, std::min(kIdsPerFence, by_id.size() - first));
  auto it = std::lower_bound(block.begin(), block.end(), id,
                             [](const IdEntry& e, uint64_t id) { return e.id < id; });
  if (it == block.end() || it->id != id || it->position >= items()) return std::nullopt;
  return it->position;
}

Status IvfView::Validate() const {
  if (dim == 0 || clusters == 0 || groups == 0 || coarse_nprobe == 0) {
    return DataLoss("has dim, clusters, groups or coarse_nprobe 0");
  }
  if (coarse.size() != size_t{groups} * dim) return DataLoss("coarse centroids have a bad size");
  if (group_offsets.size() != size_t{groups} + 1) {
    return DataLoss("group offsets have a bad size");
  }
  if (centroids.size() != size_t{clusters} * dim) return DataLoss("centroids have a bad size");
  if (offsets.size() != size_t{clusters} + 1) return DataLoss("offsets have a bad size");
  if (vectors.size() != items() * dim) return DataLoss("vectors have a bad size");
  if (by_id.size() != items()) return DataLoss("id index has a bad size");
  if (id_fences.size() != (items() + kIdsPerFence - 1) / kIdsPerFence) {
    return DataLoss("id fences have a bad size");
  }
  if (group_offsets[0] != 0 || group_offsets[groups] != clusters) {
    return DataLoss("group offsets bad at ends");
  }
  // Every group owns a cluster, so that every search probes at least one.
  for (uint32_t g = 0; g < groups; ++g) {
    if (group_offsets[g] >= group_offsets[g + 1]) return DataLoss("group offsets not increasing");
  }
  if (offsets[0] != 0 || offsets[clusters] != items()) return DataLoss("offsets bad at ends");
  for (uint32_t c = 0; c < clusters; ++c) {
    if (offsets[c] > offsets[c + 1]) return DataLoss("offsets decrease");
  }
  return Status::Ok();
}

IvfView IvfIndex::View() const {
  return IvfView{
      .dim = dim,
      .clusters = static_cast<uint32_t>(offsets.size() - 1),
      .groups = static_cast<uint32_t>(group_offsets.size() - 1),
      .coarse_nprobe = coarse_nprobe,
      .coarse = coarse,
      .group_offsets = group_offsets,
      .centroids = centroids,
      .offsets = offsets,
      .vectors = vectors,
      .ids = ids,
      .by_id = by_id,
      .id_fences = id_fences,
  };
}

void NormalizeRows(std::span<float> vectors, uint32_t dim) {
  for (size_t row = 0; row + dim <= vectors.size(); row += dim) {
    float* v = &vectors[row];
    float norm = std::sqrt(Dot(v, v, dim));
    if (norm == 0) continue;
    for (uint32_t d = 0; d < dim; ++d) v[d] /= norm;
  }
}

namespace {

// Spherical k-means of the model items `points` into `k` centroids (k <= points.size()),
// seeded with the first k points, which the caller has shuffled. Appends the centroids to
// *centroids and sets (*assignment)[i] to the nearest final centroid of points[i].
void SphericalKMeans(const Model& model, uint32_t dim, std::span<const uint32_t> points,
                     uint32_t k, uint32_t iterations, std::vector<float>* centroids,
                     std::vector<uint32_t>* assignment) {
  auto point = [&](size_t i) { return &model.vectors[size_t{points[i]} * dim]; };
  std::vector<float> own(size_t{k} * dim);
  for (uint32_t c = 0; c < k; ++c) std::copy_n(point(c), dim, &own[size_t{c} * dim]);
  std::vector<float> sums(own.size());
  std::vector<uint64_t> counts(k);
  for (uint32_t iteration = 0; iteration < iterations; ++iteration) {
    std::fill(sums.begin(), sums.end(), 0.0f);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < points.size(); ++i) {
      const float* v = point(i);
      uint32_t c = Nearest(own, k, v, dim);
      for (uint32_t d = 0; d < dim; ++d) sums[size_t{c} * dim + d] += v[d];
      ++counts[c];
    }
    for (uint32_t c = 0; c < k; ++c) {
      float* centroid = &own[size_t{c} * dim];
      if (counts[c] == 0) {
        // An empty cluster restarts from a sample item, chosen so restarts differ.
        std::copy_n(point((size_t{iteration} * k + c) % points.size()), dim, centroid);
      } else {
        std::copy_n(&sums[size_t{c} * dim], dim, centroid);
        NormalizeRows({centroid, dim}, dim);
      }
    }
  }
  assignment->resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) (*assignment)[i] = Nearest(own, k, point(i), dim);
  centroids->insert(centroids->end(), own.begin(), own.end());
}

bool ScoreOrder(const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Status TrainQuantizer(const Model& model, uint32_t dim, const KMeansOptions& options,
                      Quantizer* quantizer) {
  const size_t items = model.ids.size();
  const uint32_t clusters = options.clusters;
  if (items < clusters || clusters == 0) {
    return fnhost::sdk::InvalidArgumentError(
        "recommender: model has " + std::to_string(items) + " items, fewer than clusters=" +
        std::to_string(clusters));
  }
  // A partial Fisher-Yates shuffle picks a sample of distinct items; mt19937_64's output is
  // fixed by the standard, so the same seed trains the same centroids everywhere.
  size_t sample = options.sample != 0
                      ? options.sample
                      : std::min<uint64_t>(uint64_t{clusters} * 32, kMaxDefaultSample);
  sample = std::clamp<size_t>(sample, clusters, items);
  std::vector<uint32_t> order(items);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(options.seed);
  for (size_t i = 0; i < sample; ++i) std::swap(order[i], order[i + rng() % (items - i)]);
  order.resize(sample);

  // The coarse level: sqrt(clusters) groups balance the centroids a search scores in the two
  // levels (groups, then coarse_nprobe x clusters / groups).
  const uint32_t groups = std::clamp<uint32_t>(
      static_cast<uint32_t>(std::lround(std::sqrt(static_cast<double>(clusters)))), 1, clusters);
  std::vector<float> coarse;
  std::vector<uint32_t> group_of;
  SphericalKMeans(model, dim, order, groups, options.iterations, &coarse, &group_of);

  // The fine level: each group's share of the sample, in sample order (still shuffled).
  std::vector<std::vector<uint32_t>> members(groups);
  for (size_t i = 0; i < sample; ++i) members[group_of[i]].push_back(order[i]);
  quantizer->coarse.clear();
  quantizer->group_offsets.assign(1, 0);
  quantizer->centroids.clear();
  std::vector<uint32_t> ignored;
  for (uint32_t g = 0; g < groups; ++g) {
    const std::vector<uint32_t>& points = members[g];
    if (points.empty()) continue;  // a group without items would own no cluster
    const uint64_t share = (uint64_t{clusters} * points.size() + sample / 2) / sample;
    const uint32_t k = static_cast<uint32_t>(std::clamp<uint64_t>(share, 1, points.size()));
    SphericalKMeans(model, dim, points, k, options.iterations, &quantizer->centroids, &ignored);
    quantizer->coarse.insert(quantizer->coarse.end(), &coarse[size_t{g} * dim],
                             &coarse[size_t{g + 1} * dim]);
    quantizer->group_offsets.push_back(quantizer->group_offsets.back() + k);
  }
  return Status::Ok();
}

Status GroupByCluster(const Model& model, uint32_t dim, Quantizer quantizer,
                      uint32_t coarse_nprobe, IvfIndex* index) {
  const size_t items = model.ids.size();
  const uint32_t clusters = static_cast<uint32_t>(quantizer.centroids.size() / dim);
  // Items go where a search for them looks first, so an item always finds itself.
  IvfView routing;
  routing.dim = dim;
  routing.clusters = clusters;
  routing.groups = static_cast<uint32_t>(quantizer.group_offsets.size() - 1);
  routing.coarse_nprobe = coarse_nprobe;
  routing.coarse = quantizer.coarse;
  routing.group_offsets = quantizer.group_offsets;
  routing.centroids = quantizer.centroids;
  SearchScratch scratch;
  std::vector<uint32_t> assignment(items);
  index->offsets.assign(size_t{clusters} + 1, 0);
  for (size_t i = 0; i < items; ++i) {
    RankClusters(routing, &model.vectors[i * dim], 1, &scratch);
    assignment[i] = scratch.probed[0];
    ++index->offsets[assignment[i] + 1];
  }
  std::partial_sum(index->offsets.begin(), index->offsets.end(), index->offsets.begin());

  std::vector<uint64_t> next(index->offsets.begin(), index->offsets.end() - 1);
  index->dim = dim;
  index->coarse_nprobe = coarse_nprobe;
  index->vectors.resize(items * dim);
  index->ids.resize(items);
  index->by_id.resize(items);
  for (size_t i = 0; i < items; ++i) {
    uint64_t position = next[assignment[i]]++;
    std::copy_n(&model.vectors[i * dim], dim, &index->vectors[position * dim]);
    index->ids[position] = model.ids[i];
    index->by_id[position] = IdEntry{model.ids[i], position};
  }
  std::sort(index->by_id.begin(), index->by_id.end(),
            [](const IdEntry& a, const IdEntry& b) { return a.id < b.id; });
  auto duplicate = std::adjacent_find(index->by_id.begin(), index->by_id.end(),
                                      [](const IdEntry& a, const IdEntry& b) {
                                        return a.id == b.id;
                                      });
  if (duplicate != index->by_id.end()) {
    return fnhost::sdk::InvalidArgumentError("recommender: item id " +
                                             std::to_string(duplicate->id) +
                                             " appears twice in the model");
  }
  index->id_fences.clear();
  for (size_t i = 0; i < items; i += kIdsPerFence) index->id_fences.push_back(index->by_id[i].id);
  index->coarse = std::move(quantizer.coarse);
  index->group_offsets = std::move(quantizer.group_offsets);
  index->centroids = std::move(quantizer.centroids);
  return Status::Ok();
}

void RankClusters(const IvfView& index, const float* query, uint32_t nprobe,
                  SearchScratch* scratch) {
  auto& group_scores = scratch->group_scores;
  group_scores.resize(index.groups);
  for (uint32_t g = 0; g < index.groups; ++g) {
    group_scores[g] = {Dot(&index.coarse[size_t{g} * index.dim], query, index.dim), g};
  }
  const uint32_t coarse_nprobe = std::min(index.coarse_nprobe, index.groups);
  std::partial_sort(group_scores.begin(), group_scores.begin() + coarse_nprobe,
                    group_scores.end(), ScoreOrder);
  auto& cluster_scores = scratch->cluster_scores;
  cluster_scores.clear();
  for (uint32_t p = 0; p < coarse_nprobe; ++p) {
    const uint32_t g = group_scores[p].second;
    for (uint32_t c = index.group_offsets[g]; c < index.group_offsets[g + 1]; ++c) {
      cluster_scores.emplace_back(Dot(&index.centroids[size_t{c} * index.dim], query, index.dim),
                                  c);
    }
  }
  scratch->centroids_scored = index.groups + cluster_scores.size();
  const size_t probed = std::min<size_t>(nprobe, cluster_scores.size());
  std::partial_sort(cluster_scores.begin(), cluster_scores.begin() + probed,
                    cluster_scores.end(), ScoreOrder);
  scratch->probed.clear();
  for (size_t p = 0; p < probed; ++p) scratch->probed.push_back(cluster_scores[p].second);
}

void Search(const IvfView& index, const float* query, uint32_t k, uint32_t nprobe,
            SearchScratch* scratch, std::vector<Hit>* hits) {
  hits->clear();
  scratch->probed.clear();
  scratch->centroids_scored = 0;
  scratch->vectors_scored = 0;
  if (k == 0) return;
  RankClusters(index, query, nprobe, scratch);

  // A heap ordered by `better` keeps the worst of the best k on top. It holds positions: an id
  // is read only to break a tie and for the k results, so the scan reads the probed clusters'
  // vectors but not their ids (a page fault saved per cluster on a freshly mapped snapshot).
  auto& best = scratch->best;
  best.clear();
  auto better = [&index](const std::pair<float, uint64_t>& a, const std::pair<float, uint64_t>& b) {
    return a.first > b.first || (a.first == b.first && index.ids[a.second] < index.ids[b.second]);
  };
  for (const uint32_t c : scratch->probed) {
    scratch->vectors_scored += index.offsets[c + 1] - index.offsets[c];
    for (uint64_t pos = index.offsets[c]; pos < index.offsets[c + 1]; ++pos) {
      const std::pair<float, uint64_t> candidate{Dot(index.vector(pos), query, index.dim), pos};
      if (best.size() < k) {
        best.push_back(candidate);
        std::push_heap(best.begin(), best.end(), better);
      } else if (better(candidate, best.front())) {
        std::pop_heap(best.begin(), best.end(), better);
        best.back() = candidate;
        std::push_heap(best.begin(), best.end(), better);
      }
    }
  }
  std::sort_heap(best.begin(), best.end(), better);
  for (const auto& [score, pos] : best) hits->push_back(Hit{index.ids[pos], score});
}

}  // namespace recommender
