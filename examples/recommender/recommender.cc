// Example module with expensive global state: "items similar to this one" over an embedding
// model, served from an IVF index.
//
// State::Create does what a real recommender's init does, so its cost is honest: it parses the
// text model (see params.h for the init config; a missing model file is first generated from
// the seed, which is logged but is not part of the init work), normalises the vectors, trains
// a two-level quantizer (hierarchical k-means) on a bounded sample and groups every item by
// its nearest centroid; clusters hold cluster_size items on average, so a query's work does not
// grow with the model (see ivf_index.h). The state is read-only afterwards, so instances share
// it without locks.
//
// Snapshots: Snapshot() writes the index's flat arrays as sections; Restore() searches them in
// place (the state's views point into the host's mapped sections; nothing is copied or
// rebuilt), while a created state's views point into arrays it owns. Each instance has its own
// RNG for exploration slots, seeded from the state's seed: AfterRestore draws a fresh seed,
// because every process restored from one snapshot, or forked from one zygote, would otherwise
// recommend the same "random" items.
//
// Requests (whitespace-separated key=value):
//   item=<id> [k=<n>] [nprobe=<n>] [explore=<n>]     items most similar to item <id>
//   vector=<v1>,...,<vD> [k=<n>] [nprobe=<n>] [explore=<n>]   items most similar to a vector
//   stats                                            "items=.. dim=.. clusters=.. nprobe=..
//                                                     origin=init|restore reseeded=0|1"
// k defaults to 10 (at most 1000), nprobe to the init config's, explore to 0 (at most 100).
// The response is one "id score" line per item, best first (the item itself comes first for
// item=, with score 1), then up to `explore` random items from the probed clusters.
// Errors: INVALID_ARGUMENT for a malformed request, NOT_FOUND for an unknown item id.
#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "examples/common/key_value.h"
#include "examples/recommender/ivf_index.h"
#include "examples/recommender/model_file.h"
#include "examples/recommender/params.h"
#include "fnhost/module.h"

namespace recommender {
namespace {

// A seed from the kernel's entropy. Not std::random_device: its setup probes the CPU with
// cpuid, which traps to the hypervisor on a VM (about 14 us there), and every worker draws one.
uint64_t FreshSeed() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof(seed), 0) == static_cast<ssize_t>(sizeof(seed))) return seed;
  return std::random_device()();
}

using fnhost::sdk::InvalidArgumentError;
using fnhost::sdk::Status;

// The "params" section. Snapshots are read by the same build of this module (the host checks
// the module's identity), so a plain struct is enough.
struct SnapshotParams {
  uint32_t format = 2;
  uint32_t dim = 0;
  uint32_t clusters = 0;
  uint32_t nprobe = 0;
  uint64_t items = 0;
  uint32_t groups = 0;
  uint32_t coarse_nprobe = 0;
};

class Stopwatch {
 public:
  double LapMs() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string Ms(double ms) {
  char buffer[32];
  auto [end, error] =
      std::to_chars(buffer, buffer + sizeof(buffer), ms, std::chars_format::fixed, 1);
  return std::string(buffer, end) + " ms";
}

template <typename T>
Status FindArray(const fnhost::sdk::SnapshotReader& reader, std::string_view name,
                 std::span<const T>* out) {
  fnhost::sdk::Section section;
  Status status = reader.FindSection(name, &section);
  if (!status.ok()) return status;
  if (section.size % sizeof(T) != 0) {
    return Status(fnhost::sdk::StatusCode::kDataLoss,
                  "recommender: snapshot section '" + std::string(name) + "' has a bad size");
  }
  *out = {section.as<T>(), section.size / sizeof(T)};
  return Status::Ok();
}

template <typename T>
Status WriteArray(fnhost::sdk::SnapshotWriter& writer, std::string_view name,
                  std::span<const T> array) {
  return writer.WriteSection(name, array.data(), array.size_bytes());
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* out) {
    Params params;
    Status status = ParseParams(context.init_config(), &params);
    if (!status.ok()) return status;

    Model model;
    Stopwatch watch;
    status = ReadModelFile(params.model, params.dim, &model);
    if (status.code() == fnhost::sdk::StatusCode::kNotFound) {
      status = GenerateModelFile(params, params.model);
      if (!status.ok()) return status;
      context.Log(fnhost::sdk::LogLevel::kInfo, "recommender: generated model " + params.model +
                                                    " in " + Ms(watch.LapMs()) +
                                                    " (not part of the init time below)");
      status = ReadModelFile(params.model, params.dim, &model);
    }
    if (!status.ok()) return status;
    const double parse_ms = watch.LapMs();
    NormalizeRows(model.vectors, params.dim);
    const double normalize_ms = watch.LapMs();
    Quantizer quantizer;
    status = TrainQuantizer(model, params.dim,
                            KMeansOptions{.clusters = ClustersFor(params, model.ids.size()),
                                          .iterations = params.iterations,
                                          .sample = params.sample,
                                          .seed = params.seed},
                            &quantizer);
    if (!status.ok()) return status;
    const double kmeans_ms = watch.LapMs();
    auto state = std::make_unique<State>("init", params.nprobe, FreshSeed());
    status = GroupByCluster(model, params.dim, std::move(quantizer), params.coarse_nprobe,
                            &state->owned_);
    if (!status.ok()) return status;
    state->index_ = state->owned_.View();
    const double group_ms = watch.LapMs();
    context.Log(fnhost::sdk::LogLevel::kInfo,
                "recommender: init of " + std::to_string(model.ids.size()) + " items x " +
                    std::to_string(params.dim) + " took " +
                    Ms(parse_ms + normalize_ms + kmeans_ms + group_ms) + " (parse " +
                    Ms(parse_ms) + ", normalise " + Ms(normalize_ms) + ", k-means " +
                    Ms(kmeans_ms) + ", assign and group " + Ms(group_ms) + "); " +
                    std::to_string(state->index_.clusters) + " clusters in " +
                    std::to_string(state->index_.groups) + " groups");
    *out = std::move(state);
    return Status::Ok();
  }

  static Status Restore(const fnhost::sdk::InitContext&, const fnhost::sdk::SnapshotReader& reader,
                        std::unique_ptr<State>* out) {
    std::span<const SnapshotParams> params;
    Status status = FindArray(reader, "params", &params);
    if (!status.ok()) return status;
    if (params.size() != 1 || params[0].format != SnapshotParams().format ||
        params[0].nprobe == 0) {
      return Status(fnhost::sdk::StatusCode::kDataLoss,
                    "recommender: snapshot params are not ones this module writes");
    }
    // AfterRestore draws the seed, so drawing one here as well would pay for it twice.
    auto state = std::make_unique<State>("restore", params[0].nprobe, /*rng_seed=*/0);
    IvfView& index = state->index_;
    index.dim = params[0].dim;
    index.clusters = params[0].clusters;
    index.groups = params[0].groups;
    index.coarse_nprobe = params[0].coarse_nprobe;
    // The lookups are cheap, so all run; the first error wins.
    for (Status s : {FindArray(reader, "coarse", &index.coarse),
                     FindArray(reader, "group_offsets", &index.group_offsets),
                     FindArray(reader, "centroids", &index.centroids),
                     FindArray(reader, "offsets", &index.offsets),
                     FindArray(reader, "vectors", &index.vectors),
                     FindArray(reader, "ids", &index.ids),
                     FindArray(reader, "by_id", &index.by_id),
                     FindArray(reader, "id_fences", &index.id_fences), index.Validate()}) {
      if (!s.ok()) return s;
    }
    *out = std::move(state);
    return Status::Ok();
  }

  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    const SnapshotParams params{.dim = index_.dim,
                                .clusters = index_.clusters,
                                .nprobe = nprobe_,
                                .items = index_.items(),
                                .groups = index_.groups,
                                .coarse_nprobe = index_.coarse_nprobe};
    // Sequential, so that a failed write stops before the large sections are copied.
    Status status = WriteArray(writer, "params", std::span<const SnapshotParams>(&params, 1));
    if (status.ok()) status = WriteArray(writer, "coarse", index_.coarse);
    if (status.ok()) status = WriteArray(writer, "group_offsets", index_.group_offsets);
    if (status.ok()) status = WriteArray(writer, "centroids", index_.centroids);
    if (status.ok()) status = WriteArray(writer, "offsets", index_.offsets);
    if (status.ok()) status = WriteArray(writer, "vectors", index_.vectors);
    if (status.ok()) status = WriteArray(writer, "ids", index_.ids);
    if (status.ok()) status = WriteArray(writer, "by_id", index_.by_id);
    if (status.ok()) status = WriteArray(writer, "id_fences", index_.id_fences);
    return status;
  }

  Status AfterRestore(const fnhost::sdk::InitContext& context) {
    rng_seed_ = FreshSeed();
    reseeded_ = true;
    context.Log(fnhost::sdk::LogLevel::kDebug, "recommender: reseeded the exploration RNG");
    return Status::Ok();
  }

  State(const char* origin, uint32_t nprobe, uint64_t rng_seed)
      : origin_(origin), nprobe_(nprobe), rng_seed_(rng_seed) {}

  const IvfView& index() const { return index_; }
  uint32_t nprobe() const { return nprobe_; }
  uint64_t rng_seed() const { return rng_seed_; }
  std::string Stats() const {
    return "items=" + std::to_string(index_.items()) + " dim=" + std::to_string(index_.dim) +
           " clusters=" + std::to_string(index_.clusters) +
           " nprobe=" + std::to_string(nprobe_) + " origin=" + origin_ +
           " reseeded=" + (reseeded_ ? "1" : "0");
  }

 private:
  const char* const origin_;
  const uint32_t nprobe_;
  uint64_t rng_seed_;
  bool reseeded_ = false;
  IvfIndex owned_;  // the arrays of a created state; empty in a restored one
  IvfView index_;   // into owned_, or into the snapshot's sections
};

struct Query {
  std::optional<uint64_t> item;
  std::vector<float> vector;
  uint32_t k = 10;
  std::optional<uint32_t> nprobe;
  uint32_t explore = 0;
};

Status ParseVector(std::string_view text, uint32_t dim, std::vector<float>* vector) {
  vector->clear();
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  while (p < end) {
    float value;
    auto [next, error] = std::from_chars(p, end, value);
    if (error != std::errc() || (next != end && *next != ',') || !std::isfinite(value)) {
      return InvalidArgumentError("recommender: bad vector '" + std::string(text) + "'");
    }
    vector->push_back(value);
    p = next == end ? end : next + 1;
  }
  if (vector->size() != dim) {
    return InvalidArgumentError("recommender: vector has " + std::to_string(vector->size()) +
                                " values, expected " + std::to_string(dim));
  }
  return Status::Ok();
}

Status ParseQuery(std::string_view request, uint32_t dim, Query* query) {
  constexpr std::string_view kWhat = "recommender: request";
  Status status = examples::ForEachKeyValue(request, kWhat, [&](std::string_view key,
                                                                std::string_view value) {
    if (key == "item") {
      query->item.emplace();
      return examples::ParseNumber(kWhat, key, value, &*query->item);
    }
    if (key == "vector") return ParseVector(value, dim, &query->vector);
    if (key == "k") return examples::ParseNumber(kWhat, key, value, &query->k);
    if (key == "nprobe") {
      query->nprobe.emplace();
      return examples::ParseNumber(kWhat, key, value, &*query->nprobe);
    }
    if (key == "explore") return examples::ParseNumber(kWhat, key, value, &query->explore);
    return InvalidArgumentError("recommender: unknown request key '" + std::string(key) + "'");
  });
  if (!status.ok()) return status;
  if (query->item.has_value() == !query->vector.empty()) {
    return InvalidArgumentError("recommender: a request needs exactly one of item= or vector=");
  }
  if (query->k == 0 || query->k > 1000) {
    return InvalidArgumentError("recommender: k must be in [1, 1000]");
  }
  if (query->nprobe == 0u) return InvalidArgumentError("recommender: nprobe must be >= 1");
  if (query->explore > 100) return InvalidArgumentError("recommender: explore must be <= 100");
  return Status::Ok();
}

class Instance {
 public:
  explicit Instance(const State& state)
      : state_(state), rng_(state.rng_seed() ^ reinterpret_cast<uintptr_t>(this)) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "stats") {
      response.Write(state_.Stats());
      return Status::Ok();
    }
    const IvfView& index = state_.index();
    Query query;
    Status status = ParseQuery(request, index.dim, &query);
    if (!status.ok()) return status;
    const float* vector = query.vector.data();
    if (query.item.has_value()) {
      std::optional<uint64_t> position = index.Find(*query.item);
      if (!position.has_value()) {
        return fnhost::sdk::NotFoundError("recommender: no item " + std::to_string(*query.item));
      }
      vector = index.vector(*position);
    } else {
      NormalizeRows(query.vector, index.dim);
    }
    Search(index, vector, query.k, query.nprobe.value_or(state_.nprobe()),
           &scratch_, &hits_);
    AddExploration(index, vector, query.explore);

    std::string& out = out_;
    out.clear();
    for (const Hit& hit : hits_) {
      char buffer[64];
      auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), hit.id);
      *end++ = ' ';
      end = std::to_chars(end, buffer + sizeof(buffer), hit.score, std::chars_format::fixed, 6)
                .ptr;
      *end++ = '\n';
      out.append(buffer, end);
    }
    if (!response.Write(out)) {
      return fnhost::sdk::ResourceExhaustedError("recommender: no response buffer");
    }
    return Status::Ok();
  }

 private:
  // Appends up to `count` random items of the probed clusters that are not yet in hits_.
  void AddExploration(const IvfView& index, const float* vector, uint32_t count) {
    const size_t wanted = hits_.size() + count;
    if (scratch_.probed.empty()) return;
    for (uint32_t attempt = 0; attempt < 8 * count && hits_.size() < wanted; ++attempt) {
      uint32_t c = scratch_.probed[rng_() % scratch_.probed.size()];
      uint64_t size = index.offsets[c + 1] - index.offsets[c];
      if (size == 0) continue;
      uint64_t position = index.offsets[c] + rng_() % size;
      uint64_t id = index.ids[position];
      if (std::any_of(hits_.begin(), hits_.end(), [&](const Hit& h) { return h.id == id; })) {
        continue;
      }
      hits_.push_back(Hit{id, Dot(index.vector(position), vector, index.dim)});
    }
  }

  const State& state_;
  std::mt19937_64 rng_;
  SearchScratch scratch_;
  std::vector<Hit> hits_;
  std::string out_;
};

}  // namespace
}  // namespace recommender

FNHOST_MODULE(recommender::State, recommender::Instance, "recommender", "1.0.0")
