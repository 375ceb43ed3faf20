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

bool Better(const Hit& a, const Hit& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

Status DataLoss(const std::string& what) {
  return Status(fnhost::sdk::StatusCode::kDataLoss, "recommender: snapshot " + what);
}

}  // namespace

std::optional<uint64_t> IvfView::Find(uint64_t id) const {
  auto it = std::lower_bound(by_id.begin(), by_id.end(), id,
                             [](const IdEntry& e, uint64_t id) { return e.id < id; });
  if (it == by_id.end() || it->id != id || it->position >= items()) return std::nullopt;
  return it->position;
}

Status IvfView::Validate() const {
  if (dim == 0 || clusters == 0) return DataLoss("has dim or clusters 0");
  if (centroids.size() != size_t{clusters} * dim) return DataLoss("centroids have a bad size");
  if (offsets.size() != size_t{clusters} + 1) return DataLoss("offsets have a bad size");
  if (vectors.size() != items() * dim) return DataLoss("vectors have a bad size");
  if (by_id.size() != items()) return DataLoss("id index has a bad size");
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
      .centroids = centroids,
      .offsets = offsets,
      .vectors = vectors,
      .ids = ids,
      .by_id = by_id,
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

Status TrainCentroids(const Model& model, uint32_t dim, const KMeansOptions& options,
                      std::vector<float>* centroids) {
  const size_t items = model.ids.size();
  const uint32_t clusters = options.clusters;
  if (items < clusters) {
    return fnhost::sdk::InvalidArgumentError(
        "recommender: model has " + std::to_string(items) + " items, fewer than clusters=" +
        std::to_string(clusters));
  }
  // A partial Fisher-Yates shuffle picks a sample of distinct items; mt19937_64's output is
  // fixed by the standard, so the same seed trains the same centroids everywhere.
  size_t sample = options.sample != 0 ? options.sample : size_t{clusters} * 64;
  sample = std::clamp<size_t>(sample, clusters, items);
  std::vector<uint32_t> order(items);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(options.seed);
  for (size_t i = 0; i < sample; ++i) std::swap(order[i], order[i + rng() % (items - i)]);
  auto sample_vector = [&](size_t i) { return &model.vectors[size_t{order[i]} * dim]; };

  centroids->assign(size_t{clusters} * dim, 0.0f);
  for (uint32_t c = 0; c < clusters; ++c) {
    std::copy_n(sample_vector(c), dim, &(*centroids)[size_t{c} * dim]);
  }
  std::vector<float> sums(centroids->size());
  std::vector<uint64_t> counts(clusters);
  for (uint32_t iteration = 0; iteration < options.iterations; ++iteration) {
    std::fill(sums.begin(), sums.end(), 0.0f);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < sample; ++i) {
      const float* v = sample_vector(i);
      uint32_t c = Nearest(*centroids, clusters, v, dim);
      for (uint32_t d = 0; d < dim; ++d) sums[size_t{c} * dim + d] += v[d];
      ++counts[c];
    }
    for (uint32_t c = 0; c < clusters; ++c) {
      float* centroid = &(*centroids)[size_t{c} * dim];
      if (counts[c] == 0) {
        // An empty cluster restarts from a sample item, chosen so restarts differ.
        std::copy_n(sample_vector((size_t{iteration} * clusters + c) % sample), dim, centroid);
      } else {
        std::copy_n(&sums[size_t{c} * dim], dim, centroid);
        NormalizeRows({centroid, dim}, dim);
      }
    }
  }
  return Status::Ok();
}

Status GroupByCluster(const Model& model, uint32_t dim, std::vector<float> centroids,
                      IvfIndex* index) {
  const size_t items = model.ids.size();
  const uint32_t clusters = static_cast<uint32_t>(centroids.size() / dim);
  std::vector<uint32_t> assignment(items);
  index->offsets.assign(size_t{clusters} + 1, 0);
  for (size_t i = 0; i < items; ++i) {
    assignment[i] = Nearest(centroids, clusters, &model.vectors[i * dim], dim);
    ++index->offsets[assignment[i] + 1];
  }
  std::partial_sum(index->offsets.begin(), index->offsets.end(), index->offsets.begin());

  std::vector<uint64_t> next(index->offsets.begin(), index->offsets.end() - 1);
  index->dim = dim;
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
  index->centroids = std::move(centroids);
  return Status::Ok();
}

void Search(const IvfView& index, const float* query, uint32_t k, uint32_t nprobe,
            SearchScratch* scratch, std::vector<Hit>* hits) {
  hits->clear();
  scratch->probed.clear();
  if (k == 0) return;
  nprobe = std::min(nprobe, index.clusters);
  auto& cluster_scores = scratch->cluster_scores;
  cluster_scores.resize(index.clusters);
  for (uint32_t c = 0; c < index.clusters; ++c) {
    cluster_scores[c] = {Dot(&index.centroids[size_t{c} * index.dim], query, index.dim), c};
  }
  std::partial_sort(cluster_scores.begin(), cluster_scores.begin() + nprobe,
                    cluster_scores.end(), [](const auto& a, const auto& b) {
                      return a.first > b.first || (a.first == b.first && a.second < b.second);
                    });

  // A heap ordered by Better keeps the worst of the best k on top.
  for (uint32_t p = 0; p < nprobe; ++p) {
    const uint32_t c = cluster_scores[p].second;
    scratch->probed.push_back(c);
    for (uint64_t pos = index.offsets[c]; pos < index.offsets[c + 1]; ++pos) {
      Hit hit{index.ids[pos], Dot(index.vector(pos), query, index.dim)};
      if (hits->size() < k) {
        hits->push_back(hit);
        std::push_heap(hits->begin(), hits->end(), Better);
      } else if (Better(hit, hits->front())) {
        std::pop_heap(hits->begin(), hits->end(), Better);
        hits->back() = hit;
        std::push_heap(hits->begin(), hits->end(), Better);
      }
    }
  }
  std::sort_heap(hits->begin(), hits->end(), Better);
}

}  // namespace recommender
