// Parsing of the recommender's init config. See params.h.
#include "examples/recommender/params.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "examples/common/key_value.h"

namespace recommender {

using fnhost::sdk::InvalidArgumentError;
using fnhost::sdk::Status;

Status ParseParams(std::string_view config, Params* params) {
  *params = Params();
  constexpr std::string_view kWhat = "recommender: init config";
  bool clusters_given = false;
  Status status = examples::ForEachKeyValue(config, kWhat, [&](std::string_view key,
                                                               std::string_view value) {
    using examples::ParseNumber;
    if (key == "items") return ParseNumber(kWhat, key, value, &params->items);
    if (key == "dim") return ParseNumber(kWhat, key, value, &params->dim);
    if (key == "topics") return ParseNumber(kWhat, key, value, &params->topics);
    if (key == "cluster_size") return ParseNumber(kWhat, key, value, &params->cluster_size);
    if (key == "clusters") {
      clusters_given = true;
      return ParseNumber(kWhat, key, value, &params->clusters);
    }
    if (key == "coarse_nprobe") return ParseNumber(kWhat, key, value, &params->coarse_nprobe);
    if (key == "seed") return ParseNumber(kWhat, key, value, &params->seed);
    if (key == "nprobe") return ParseNumber(kWhat, key, value, &params->nprobe);
    if (key == "iterations") return ParseNumber(kWhat, key, value, &params->iterations);
    if (key == "sample") return ParseNumber(kWhat, key, value, &params->sample);
    if (key == "model") {
      params->model = std::string(value);
      return Status::Ok();
    }
    return InvalidArgumentError("recommender: unknown init config key '" + std::string(key) +
                                "'");
  });
  if (!status.ok()) return status;
  if (params->dim == 0 || params->dim > 4096) {
    return InvalidArgumentError("recommender: dim must be in [1, 4096]");
  }
  if (clusters_given && params->clusters == 0) {
    return InvalidArgumentError("recommender: clusters must be >= 1");
  }
  if (params->topics == 0) return InvalidArgumentError("recommender: topics must be >= 1");
  if (params->cluster_size == 0) {
    return InvalidArgumentError("recommender: cluster_size must be >= 1");
  }
  if (params->nprobe == 0) return InvalidArgumentError("recommender: nprobe must be >= 1");
  if (params->coarse_nprobe == 0) {
    return InvalidArgumentError("recommender: coarse_nprobe must be >= 1");
  }
  if (params->items < params->clusters) {
    return InvalidArgumentError("recommender: items must be >= clusters");
  }
  if (params->iterations > 1000) {
    return InvalidArgumentError("recommender: iterations must be <= 1000");
  }
  if (params->model.empty()) params->model = DefaultModelPath(*params);
  return Status::Ok();
}

uint32_t ClustersFor(const Params& params, uint64_t items) {
  if (params.clusters != 0) return params.clusters;
  const uint64_t clusters = (items + params.cluster_size / 2) / params.cluster_size;
  return static_cast<uint32_t>(std::clamp<uint64_t>(clusters, 1, UINT32_MAX));
}

std::string DefaultModelPath(const Params& params) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  return dir + "/fnhost-recommender-items" + std::to_string(params.items) + "-dim" +
         std::to_string(params.dim) + "-topics" + std::to_string(params.topics) + "-seed" +
         std::to_string(params.seed) + ".txt";
}

}  // namespace recommender
