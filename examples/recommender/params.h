// The recommender's init config. Pure functions; thread-safe.
//
// Init config keys (all optional):
//   items=N          items in a generated model                        (default 131072)
//   dim=D            vector dimension                                  (default 32)
//   topics=T         topic centres of a generated model                (default 256)
//   seed=S           seed of a generated model and of k-means sampling (default 1)
//   model=PATH       the text model "item_id v1 ... vD" per line; generated from the keys above
//                    if the file does not exist (default: $TMPDIR or /tmp, see DefaultModelPath)
//   cluster_size=Z   items per IVF cluster, on average                 (default 512)
//   clusters=C       IVF clusters, overriding cluster_size     (default: model items / Z)
//   nprobe=P         clusters probed per query unless the request says (default 8)
//   coarse_nprobe=Q  centroid groups of the coarse quantizer searched  (default 4)
//   iterations=I     k-means iterations                                (default 8)
//   sample=M         items k-means trains on, 0 = 32 per cluster, at most 262144 (default 0)
// The defaults make 131072 x 32 floats: 16 MiB of vectors in 256 clusters of 512. Clusters of
// a constant size (rather than a constant number of clusters) keep a query's work constant as
// the model grows: it scans nprobe x cluster_size vectors, however many items there are.

#ifndef FNHOST_EXAMPLES_RECOMMENDER_PARAMS_H_
#define FNHOST_EXAMPLES_RECOMMENDER_PARAMS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/module.h"

namespace recommender {

struct Params {
  uint64_t items = 131072;
  uint32_t dim = 32;
  uint32_t topics = 256;
  uint64_t seed = 1;
  std::string model;
  uint32_t cluster_size = 512;
  uint32_t clusters = 0;  // 0: not given, model items / cluster_size
  uint32_t nprobe = 8;
  uint32_t coarse_nprobe = 4;
  uint32_t iterations = 8;
  uint64_t sample = 0;
};

// Parses an init config into *params, starting from the defaults. INVALID_ARGUMENT names the
// bad key or value.
fnhost::sdk::Status ParseParams(std::string_view config, Params* params);

// The IVF clusters for a model of `items` items: params.clusters if given, else items /
// cluster_size rounded, at least 1.
uint32_t ClustersFor(const Params& params, uint64_t items);

// Where the model of `params` lives when the config names none: a file in $TMPDIR (or /tmp)
// whose name holds every parameter the generated content depends on.
std::string DefaultModelPath(const Params& params);

}  // namespace recommender

#endif  // FNHOST_EXAMPLES_RECOMMENDER_PARAMS_H_
