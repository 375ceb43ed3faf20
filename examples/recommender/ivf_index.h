// An inverted-file (IVF) index over unit-length item vectors: k-means centroids, and the items
// grouped by their nearest centroid in one contiguous array, so that a query scores a few
// clusters instead of every item. Clusters have a constant size on average, so that a query's
// work (and the pages it touches) does not grow with the number of items; the centroids, whose
// number does grow, are found through a small two-level quantizer: a few coarse centroids, each
// owning a contiguous group of the fine ones (hierarchical k-means). A query, like the
// assignment of an item at build time, scores the coarse centroids, then the fine centroids of
// the best coarse_nprobe groups only. The index is flat (arrays of plain numbers, no pointers),
// so a snapshot can store it section by section and a restored state can search it in place.
//
// Thread-safety: an IvfView is read-only and safe to search from many threads at once; each
// searcher brings its own SearchScratch.

#ifndef FNHOST_EXAMPLES_RECOMMENDER_IVF_INDEX_H_
#define FNHOST_EXAMPLES_RECOMMENDER_IVF_INDEX_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "examples/recommender/model_file.h"
#include "fnhost/module.h"

namespace recommender {

// Maps an item id to the item's position in the grouped arrays.
struct IdEntry {
  uint64_t id;
  uint64_t position;
};

// by_id is searched through fences, the id of every kIdsPerFence-th entry: a small array, so
// that a lookup reads a page or two of it and one page of by_id, where a binary search of
// by_id alone would read a page per step.
inline constexpr size_t kIdsPerFence = 4096 / sizeof(IdEntry);

// The arrays of an index, wherever they live (an IvfIndex, or snapshot sections).
struct IvfView {
  uint32_t dim = 0;
  uint32_t clusters = 0;
  uint32_t groups = 0;
  uint32_t coarse_nprobe = 0;  // groups whose centroids a search scores
  std::span<const float> coarse;            // groups x dim
  std::span<const uint32_t> group_offsets;  // groups + 1; group g owns centroids
                                            // [group_offsets[g], group_offsets[g+1])
  std::span<const float> centroids;   // clusters x dim, grouped by coarse centroid
  std::span<const uint64_t> offsets;  // clusters + 1; cluster c is [offsets[c], offsets[c+1])
  std::span<const float> vectors;     // items x dim, grouped by cluster
  std::span<const uint64_t> ids;      // the item id at each position
  std::span<const IdEntry> by_id;     // sorted by id
  std::span<const uint64_t> id_fences;  // by_id[i * kIdsPerFence].id

  size_t items() const { return ids.size(); }
  const float* vector(uint64_t position) const { return vectors.data() + position * dim; }
  // The position of item `id`, if there is one.
  std::optional<uint64_t> Find(uint64_t id) const;
  // Checks that the sizes and the offsets agree, in O(clusters): enough for searches to stay
  // in bounds whatever the contents. DATA_LOSS names the first mismatch.
  fnhost::sdk::Status Validate() const;
};

// The centroids of an index: coarse ones, and the fine ones grouped by coarse centroid.
struct Quantizer {
  std::vector<float> coarse;
  std::vector<uint32_t> group_offsets;
  std::vector<float> centroids;
};

// An index that owns its arrays.
struct IvfIndex {
  uint32_t dim = 0;
  uint32_t coarse_nprobe = 0;
  std::vector<float> coarse;
  std::vector<uint32_t> group_offsets;
  std::vector<float> centroids;
  std::vector<uint64_t> offsets;
  std::vector<float> vectors;
  std::vector<uint64_t> ids;
  std::vector<IdEntry> by_id;
  std::vector<uint64_t> id_fences;

  IvfView View() const;
};

struct KMeansOptions {
  uint32_t clusters = 256;
  uint32_t iterations = 8;
  // Items to train on; 0 means 32 per cluster, at most kMaxDefaultSample. Capped at the number
  // of items. A bounded sample keeps training affordable however large the model is.
  uint64_t sample = 0;
  // Chooses the sample.
  uint64_t seed = 1;
};

inline float Dot(const float* a, const float* b, uint32_t dim) {
  // Four partial sums let the compiler overlap the additions without -ffast-math.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  uint32_t d = 0;
  for (; d + 4 <= dim; d += 4) {
    s0 += a[d] * b[d];
    s1 += a[d + 1] * b[d + 1];
    s2 += a[d + 2] * b[d + 2];
    s3 += a[d + 3] * b[d + 3];
  }
  for (; d < dim; ++d) s0 += a[d] * b[d];
  return (s0 + s1) + (s2 + s3);
}

// Scales every row of `vectors` (rows of `dim` floats) to unit length; all-zero rows stay zero.
void NormalizeRows(std::span<float> vectors, uint32_t dim);

inline constexpr uint64_t kMaxDefaultSample = 262144;

// Hierarchical spherical k-means on a sample of the unit-length `model`: about
// sqrt(options.clusters) coarse centroids, then, within each coarse centroid's share of the
// sample, fine centroids in proportion to that share; about options.clusters in all.
// INVALID_ARGUMENT when the model has fewer items than clusters.
fnhost::sdk::Status TrainQuantizer(const Model& model, uint32_t dim, const KMeansOptions& options,
                                   Quantizer* quantizer);

// Assigns every item of `model` to its nearest centroid as a search finds it (through the best
// `coarse_nprobe` groups) and builds the grouped index. INVALID_ARGUMENT when two items share
// an id.
fnhost::sdk::Status GroupByCluster(const Model& model, uint32_t dim, Quantizer quantizer,
                                   uint32_t coarse_nprobe, IvfIndex* index);

struct Hit {
  uint64_t id;
  float score;
};

// Buffers one searcher reuses between queries, and what the last search did.
struct SearchScratch {
  std::vector<std::pair<float, uint32_t>> group_scores;
  std::vector<std::pair<float, uint32_t>> cluster_scores;
  std::vector<std::pair<float, uint64_t>> best;  // (score, position) of the best hits so far
  std::vector<uint32_t> probed;    // the clusters the last search scanned
  uint64_t centroids_scored = 0;   // coarse and fine centroids the last search scored
  uint64_t vectors_scored = 0;     // item vectors the last search scored
};

// The `nprobe` clusters whose centroids are nearest to `query` among those of the
// index.coarse_nprobe groups whose coarse centroids are nearest, best first (ties to the
// smaller cluster), into scratch->probed. Needs only the view's quantizer arrays.
void RankClusters(const IvfView& index, const float* query, uint32_t nprobe,
                  SearchScratch* scratch);

// The k items with the highest inner product with `query` among the clusters RankClusters
// picks, best first; equal scores go to the smaller id.
void Search(const IvfView& index, const float* query, uint32_t k, uint32_t nprobe,
            SearchScratch* scratch, std::vector<Hit>* hits);

}  // namespace recommender

#endif  // FNHOST_EXAMPLES_RECOMMENDER_IVF_INDEX_H_
